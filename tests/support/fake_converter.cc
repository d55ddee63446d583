// A stand-in for `python3 convert_hf_to_gguf.py MODEL_DIR --outfile OUT --outtype TYPE`, run in
// place of python3 (the script path is its first argument, as python3's would be). Like
// llama.cpp's script it logs "INFO:hf-to-gguf:..." lines to stderr, fails with
// "ERROR:hf-to-gguf:Error: X is not a directory" (exit 1) when MODEL_DIR is not one, and writes a
// GGUF file (general.architecture "gpt2", general.file_type 0 for f32 / 1 for f16) to OUT.
// Like python3, a missing script is "can't open file" with exit 2.
// Faults, by $FAKE_CONVERTER_MODE:
//   fail            a Python traceback ending in NotImplementedError, exit 1
//   missing-module  ModuleNotFoundError: No module named 'torch', exit 1
//   not-gguf        exit 0 after writing bytes that are not GGUF
//   no-output       exit 0 without writing anything
//   gate            writes part of OUT, then waits until the file $FAKE_CONVERTER_GATE exists
// $FAKE_CONVERTER_ARGV: a file each run appends its argv to (one line, words separated by spaces);
// $FAKE_CONVERTER_PID_FILE: a file it writes its pid to.
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/gguf_writer.h"

namespace fs = std::filesystem;

namespace {

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

int main(int argc, char** argv) {
  if (const std::string log = Env("FAKE_CONVERTER_ARGV"); !log.empty()) {
    std::ofstream out(log, std::ios::app);
    for (int i = 0; i < argc; ++i) out << (i ? " " : "") << argv[i];
    out << "\n";
  }
  if (const std::string pid_file = Env("FAKE_CONVERTER_PID_FILE"); !pid_file.empty()) {
    std::ofstream(pid_file) << getpid() << "\n";
  }
  if (argc < 2 || !fs::is_regular_file(argv[1])) {
    std::cerr << "python3: can't open file '" << (argc < 2 ? "" : argv[1])
              << "': [Errno 2] No such file or directory\n";
    return 2;
  }
  std::string model_dir, outfile, outtype = "auto";
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--outfile" && i + 1 < argc) {
      outfile = argv[++i];
    } else if (arg == "--outtype" && i + 1 < argc) {
      outtype = argv[++i];
    } else if (arg.rfind("--", 0) == 0) {
      std::cerr << "usage: convert_hf_to_gguf.py [-h] [--outfile OUTFILE] [--outtype ...] model\n"
                << "convert_hf_to_gguf.py: error: unrecognized arguments: " << arg << "\n";
      return 2;
    } else {
      model_dir = arg;
    }
  }
  if (!fs::is_directory(model_dir)) {
    std::cerr << "ERROR:hf-to-gguf:Error: " << model_dir << " is not a directory\n";
    return 1;
  }
  std::cerr << "INFO:hf-to-gguf:Loading model: " << fs::path(model_dir).filename().string() << "\n";
  std::cerr << "INFO:hf-to-gguf:Model architecture: GPT2LMHeadModel\n";
  const std::string mode = Env("FAKE_CONVERTER_MODE");
  if (mode == "fail") {
    std::cerr << "Traceback (most recent call last):\n"
              << "  File \"" << argv[1] << "\", line 9999, in <module>\n"
              << "    main()\n"
              << "NotImplementedError: Architecture 'GPT2LMHeadModel' not supported!\n";
    return 1;
  }
  if (mode == "missing-module") {
    std::cerr << "Traceback (most recent call last):\n"
              << "  File \"" << argv[1] << "\", line 30, in <module>\n"
              << "    import torch\n"
              << "ModuleNotFoundError: No module named 'torch'\n";
    return 1;
  }
  if (mode == "no-output") return 0;
  if (mode == "not-gguf") {
    std::ofstream(outfile, std::ios::binary) << "PK\x03\x04 this is a zip, not a model";
    return 0;
  }
  llorch::testing::GgufBuilder gguf(3);
  gguf.AddString("general.architecture", "gpt2")
      .AddString("general.name", "gpt2")
      .AddUint32("general.file_type", outtype == "f16" ? 1 : 0)
      .AddUint32("gpt2.context_length", 1024)
      .AddUint32("gpt2.block_count", 1);
  gguf.AddTensor("token_embd.weight", {16, 64});
  gguf.AddTensor("output_norm.weight", {16});
  const std::string bytes = gguf.BuildWithData('\x01');
  std::ofstream out(outfile, std::ios::binary);
  const size_t half = bytes.size() / 2;
  out.write(bytes.data(), static_cast<std::streamsize>(half));
  out.flush();
  // tqdm's way of drawing a bar: redraws ended by '\r'.
  std::cerr << "Writing:  50%|#####     | 1/2 [00:00<00:00]\r" << std::flush;
  if (mode == "gate") {
    const std::string gate = Env("FAKE_CONVERTER_GATE");
    while (gate.empty() || !fs::exists(gate)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  out.write(bytes.data() + half, static_cast<std::streamsize>(bytes.size() - half));
  out.close();
  std::cerr << "Writing: 100%|##########| 2/2 [00:00<00:00]\n";
  std::cerr << "INFO:hf-to-gguf:Model successfully exported to " << outfile << "\n";
  return 0;
}
