// Verify benchmark: `llorch-pool models verify` of a 1 GiB model file side by side with
// `openssl dgst -sha256` and `sha256sum` on the same file (in the page cache for all three).
// Prints medians, throughput and ratios to openssl.
// Usage: verify_bench LLORCH_POOL [RUNS] [MIB]
#include <openssl/evp.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "bench/bench_util.h"

int main(int argc, char** argv) {
  using llorch::bench::Command;
  const llorch::bench::Args args = llorch::bench::ParseArgs(argc, argv, 5, " [MIB]");
  const std::string& cli = args.cli;
  const int runs = args.runs;
  const uint64_t mib =
      args.extra.empty() ? 1024 : std::strtoull(args.extra[0].c_str(), nullptr, 10);
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  const std::string dir = work + "/models/tinyllama";
  const std::string file = dir + "/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf";
  std::filesystem::create_directories(dir + "/.llorch");

  // Pseudo-random content (xorshift), hashed as it is written for the manifest.
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  EVP_DigestInit_ex(context, EVP_sha256(), nullptr);
  std::ofstream out(file, std::ios::binary);
  std::string header = llorch::bench::MinimalGgufHeader();
  out << header;
  EVP_DigestUpdate(context, header.data(), header.size());
  uint64_t state = 0x9E3779B97F4A7C15ull;
  std::vector<uint64_t> block(1 << 17);  // 1 MiB
  for (uint64_t i = 0; i < mib; ++i) {
    for (uint64_t& word : block) {
      state ^= state << 13;
      state ^= state >> 7;
      state ^= state << 17;
      word = state;
    }
    out.write(reinterpret_cast<const char*>(block.data()), block.size() * 8);
    EVP_DigestUpdate(context, block.data(), block.size() * 8);
  }
  out.close();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(context, digest, &length);
  EVP_MD_CTX_free(context);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    static constexpr char kHex[] = "0123456789abcdef";
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 0xf];
  }
  const uint64_t bytes = header.size() + mib * (1 << 20);
  std::ofstream(dir + "/.llorch/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf.manifest.json")
      << "{\"size\": " << bytes << ", \"sha256\": \"" << hex << "\"}\n";

  const std::string models_dir = work + "/models";
  std::vector<Command> commands = {
      {"openssl dgst -sha256", {"openssl", "dgst", "-sha256", file}, {}},
      {"sha256sum", {"sha256sum", file}, {}},
      {"llorch-pool models verify",
       {cli, "--standalone", "--models-dir", models_dir, "-q", "models", "verify", "tinyllama"},
       {}},
  };
  llorch::bench::RunRounds(commands, runs);
  std::filesystem::remove_all(work);
  const double floor = llorch::bench::Median(commands[0].millis);
  std::printf("verify of a %llu MiB file, median of %d runs (page cache warm)\n",
              static_cast<unsigned long long>(mib), runs);
  for (const Command& command : commands) {
    const double median = llorch::bench::Median(command.millis);
    std::printf("  %-28s %8.1f ms  %6.2f GB/s   %5.2fx openssl throughput\n", command.label.c_str(),
                median, bytes / median / 1e6, floor / median);
  }
  return 0;
}
