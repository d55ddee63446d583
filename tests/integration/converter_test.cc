// Conversion against tests/support/fake_converter.cc, run in place of python3 the way
// convert_hf_to_gguf.py is: what is installed, the argv (absolute paths), the converter's output
// in the operation log, the errors a user reads, refusal of a result that is not GGUF, and
// cancellation.
#include "agent/models/converter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "agent/models/store/gguf_reader.h"
#include "agent/models/store/sha256_file.h"
#include "common/status.h"
#include "tests/support/operation_events.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kSourceCommit[] = "607a30d783dfa663caf39e06633721c8d4cfcd7e";

class ConverterTest : public ::testing::Test {
 protected:
  ConverterTest() : store_(fs::path(temp_.path()) / "models") {
    model_.id = "gpt2";
    model_.repo = "openai-community/gpt2";
    model_.file = "gpt2-fp32.gguf";
    model_.dir = "gpt2";
    model_.revision = "main";
    model_.size_bytes = 8000;
    model_.conversion = ModelConversion{"llama.cpp",
                                        "reference/llama.cpp/convert_hf_to_gguf.py",
                                        {"--outtype", "f32"},
                                        {"config.json", "*.safetensors"},
                                        "f32"};
    testing::WriteFileBytes(Script(), "# stand-in: fake_converter runs in place of python3\n");
    testing::WriteFileBytes(Source() / "config.json",
                            "{\"architectures\": [\"GPT2LMHeadModel\"]}\n");
    testing::WriteFileBytes(Source() / "model.safetensors", "weights");
    options_.python = FAKE_CONVERTER;
    options_.repo_root = root() / "repo";
    options_.source_commit = kSourceCommit;
    options_.env = {{"FAKE_CONVERTER_ARGV", (root() / "argv.log").string()},
                    {"FAKE_CONVERTER_PID_FILE", (root() / "converter.pid").string()},
                    {"FAKE_CONVERTER_GATE", (root() / "gate").string()}};
    options_.poll_interval = absl::Milliseconds(5);
    options_.kill_grace = absl::Milliseconds(200);
  }

  fs::path root() const { return temp_.path(); }
  fs::path Script() const { return root() / "repo" / "reference/llama.cpp/convert_hf_to_gguf.py"; }
  fs::path Source() const { return store_.models_dir() / "gpt2" / "source"; }

  absl::StatusOr<Manifest> Convert() { return ConvertModel(store_, model_, options_, op_); }

  void ExpectNothingInstalled() {
    EXPECT_FALSE(fs::exists(store_.ModelPath(model_)));
    EXPECT_FALSE(fs::exists(store_.ManifestPath(model_)));
    EXPECT_FALSE(fs::exists(ConversionTempPath(store_, model_)));
    EXPECT_NE(store_.Inspect(model_).state, LocalState::kDownloaded);
  }

  testing::TempDir temp_;
  ModelStore store_;
  CatalogModel model_;
  ConverterOptions options_;
  Operation op_{"op-1", "model.download", "gpt2"};
};

// The converter reads and writes by path, so its directories are checked before it runs: a
// source/ that links elsewhere is neither converted from nor written next to.
TEST_F(ConverterTest, ASymlinkedSourceDirIsRefusedBeforeTheConverterRuns) {
  const fs::path outside = root() / "outside";
  fs::rename(Source(), outside);
  fs::create_directory_symlink(outside, Source());
  absl::StatusOr<Manifest> manifest = Convert();
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(GetReason(manifest.status()), "SYMLINK_REFUSED");
  EXPECT_THAT(manifest.status().message(),
              HasSubstr(Source().string() + " is a symlink (to " + outside.string() + ")"));
  EXPECT_FALSE(fs::exists(root() / "argv.log"));  // the converter never ran
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, ConvertsAndInstallsAValidGgufWithItsManifest) {
  absl::StatusOr<Manifest> manifest = Convert();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  const fs::path path = store_.ModelPath(model_);
  absl::StatusOr<GgufSummary> gguf = ReadGgufSummary(path.string());
  ASSERT_TRUE(gguf.ok()) << gguf.status();
  EXPECT_EQ(gguf->architecture, "gpt2");
  EXPECT_EQ(gguf->file_type, "ALL_F32");

  EXPECT_EQ(manifest->repo, "openai-community/gpt2");
  EXPECT_EQ(manifest->revision_commit, kSourceCommit);
  EXPECT_EQ(manifest->file, "gpt2-fp32.gguf");
  EXPECT_EQ(manifest->size, fs::file_size(path));
  EXPECT_EQ(manifest->sha256, *Sha256File(path.string()));
  EXPECT_EQ(manifest->upstream_etag, "");
  std::optional<Manifest> stored = store_.ReadManifest(model_);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->sha256, manifest->sha256);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
  EXPECT_FALSE(fs::exists(ConversionTempPath(store_, model_)));

  // python3 <abs script> <abs source> --outfile <abs temp> <catalog args>
  EXPECT_EQ(
      testing::ReadFileBytes(root() / "argv.log"),
      absl::StrCat(FAKE_CONVERTER, " ", Script().string(), " ", Source().string(), " --outfile ",
                   ConversionTempPath(store_, model_).string(), " --outtype f32\n"));
  const std::vector<std::string> stderr_lines = testing::LogTexts(op_, v1::LogLine::STREAM_STDERR);
  EXPECT_THAT(stderr_lines, Contains("INFO:hf-to-gguf:Loading model: source"));
  EXPECT_THAT(stderr_lines, Contains("Writing:  50%|#####     | 1/2 [00:00<00:00]"));
  EXPECT_THAT(stderr_lines, Contains(absl::StrCat("INFO:hf-to-gguf:Model successfully exported to ",
                                                  ConversionTempPath(store_, model_).string())));
  std::vector<v1::Progress> convert = testing::ProgressOf(op_, "convert");
  ASSERT_FALSE(convert.empty());
  EXPECT_EQ(convert.back().done(), manifest->size);
  ASSERT_FALSE(testing::ProgressOf(op_, "hash").empty());
  EXPECT_EQ(testing::ProgressOf(op_, "hash").back().done(), manifest->size);
}

TEST_F(ConverterTest, ReplacesAnEarlierResultAndItsManifest) {
  testing::WriteFileBytes(store_.ModelPath(model_), "old bytes");
  Manifest old;
  old.file = model_.file;
  old.size = 9;
  old.sha256 = std::string(64, 'a');
  ASSERT_TRUE(store_.WriteManifest(model_, old).ok());
  absl::StatusOr<Manifest> manifest = Convert();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(store_.ReadManifest(model_)->sha256, *Sha256File(store_.ModelPath(model_).string()));
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
}

TEST_F(ConverterTest, UsesTheBashScriptsPytorchDirectory) {
  fs::rename(Source(), store_.models_dir() / "gpt2" / "pytorch");
  ASSERT_TRUE(Convert().ok());
  EXPECT_THAT(testing::ReadFileBytes(root() / "argv.log"),
              HasSubstr((store_.models_dir() / "gpt2" / "pytorch").string() + " --outfile"));
}

TEST_F(ConverterTest, AMissingScriptNamesItsPathAndTheSubmodule) {
  fs::remove(Script());
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat("the converter script ", Script().string(), " does not exist"));
  EXPECT_EQ(GetHint(manifest.status()),
            "fetch the converter with `llorch-pool git submodules update --name "
            "reference/llama.cpp`");
  EXPECT_FALSE(fs::exists(root() / "argv.log"));  // nothing ran
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, WithoutARepositoryRootSaysHowToSetIt) {
  options_.repo_root.clear();
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(manifest.status().message(),
              HasSubstr("cannot find the converter reference/llama.cpp/convert_hf_to_gguf.py: no "
                        "repository root is known"));
  EXPECT_THAT(GetHint(manifest.status()).value_or(""), HasSubstr("repo_root"));
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, AMissingPythonNamesWhereItWasLookedFor) {
  const fs::path empty = root() / "empty-bin";
  fs::create_directories(empty);
  options_.python = "python3";
  options_.env["PATH"] = empty.string();
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat("cannot run the converter: `python3` was not found in PATH (",
                         empty.string(), ")"));
  const std::string hint = GetHint(manifest.status()).value_or("");
  EXPECT_THAT(hint, HasSubstr("apt-get install python3"));
  EXPECT_THAT(hint, HasSubstr((Script().parent_path() / "requirements.txt").string()));
  EXPECT_THAT(hint, HasSubstr("llorch-pool git submodules update --name reference/llama.cpp"));
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, MissingSourceFilesSayWhatToDownload) {
  fs::remove_all(Source());
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat("no conversion source for gpt2: ", (Source() / "config.json").string(),
                         " does not exist"));
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, AFailingConverterPutsItsOutputInTheLogAndItsErrorInTheMessage) {
  options_.env["FAKE_CONVERTER_MODE"] = "fail";
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat("converter ", Script().string(),
                         " failed (exit 1): NotImplementedError: Architecture 'GPT2LMHeadModel' "
                         "not supported!"));
  const std::vector<std::string> stderr_lines = testing::LogTexts(op_, v1::LogLine::STREAM_STDERR);
  EXPECT_THAT(stderr_lines, Contains("Traceback (most recent call last):"));
  EXPECT_THAT(stderr_lines, Contains("INFO:hf-to-gguf:Model architecture: GPT2LMHeadModel"));
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, AMissingPythonModuleSuggestsTheRequirements) {
  options_.env["FAKE_CONVERTER_MODE"] = "missing-module";
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_THAT(manifest.status().message(), HasSubstr("No module named 'torch'"));
  EXPECT_EQ(GetHint(manifest.status()),
            absl::StrCat("install the converter's Python requirements: `pip install -r ",
                         (Script().parent_path() / "requirements.txt").string(), "`"));
}

TEST_F(ConverterTest, OutputThatIsNotGgufIsRefused) {
  options_.env["FAKE_CONVERTER_MODE"] = "not-gguf";
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(manifest.status().message(),
              HasSubstr(absl::StrCat("converter ", Script().string(),
                                     " produced a file that is not a valid GGUF model: ")));
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, SuccessWithoutOutputIsAnError) {
  options_.env["FAKE_CONVERTER_MODE"] = "no-output";
  absl::StatusOr<Manifest> manifest = Convert();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(manifest.status().message(), HasSubstr("exited 0 but wrote no"));
  ExpectNothingInstalled();
}

TEST_F(ConverterTest, CancelStopsTheConverterAndLeavesNothingBehind) {
  options_.env["FAKE_CONVERTER_MODE"] = "gate";
  absl::StatusOr<Manifest> manifest;
  std::thread worker([&] { manifest = Convert(); });
  EXPECT_TRUE(testing::WaitForProgress(op_, [](const v1::Progress& progress) {
    return progress.phase() == "convert" && progress.done() > 0;
  }));
  op_.RequestCancel();
  worker.join();  // never returns if the child is not stopped: the gate stays shut
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(manifest.status().message(), "conversion of gpt2 cancelled");
  const pid_t pid = std::stoi(testing::ReadFileBytes(root() / "converter.pid"));
  EXPECT_TRUE(kill(pid, 0) == -1 && errno == ESRCH);
  ExpectNothingInstalled();
}

}  // namespace
}  // namespace llorch
