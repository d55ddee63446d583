// Doctor benchmark: `llorch-pool dev doctor` (standalone, offline so no network check waits) in a
// fresh git checkout, side by side with a `sh` script running the same external commands one
// after another (git, hf, huggingface-cli, rustc, cargo, python3, nvidia-smi's GPU query, git's
// submodule status, df), as a shell doctor would. Interleaved rounds; prints medians and the
// ratio. The bar (issue 13): dev doctor within 300 ms when no network check has to wait.
// Usage: doctor_bench LLORCH_POOL [RUNS]
#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "bench/bench_util.h"

int main(int argc, char** argv) {
  using llorch::bench::Command;
  const llorch::bench::Args args = llorch::bench::ParseArgs(argc, argv, 20);
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  setenv("HF_HUB_OFFLINE", "1", 1);
  if (std::system("git init -q .") != 0) {
    std::fprintf(stderr, "cannot make a git checkout in %s\n", work.c_str());
    return 1;
  }
  std::ofstream(work + "/doctor.sh")
      << "git --version\n"
         "hf version || huggingface-cli version\n"
         "rustc --version\n"
         "cargo --version\n"
         "python3 --version\n"
         "nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,memory.free,"
         "driver_version --format=csv,noheader,nounits\n"
         "git submodule status\n"
         "df -P .\n"
         "exit 0\n";
  std::vector<Command> commands = {
      {"sh doctor.sh (sequential)", {"sh", "doctor.sh"}, {}},
      {"llorch-pool dev doctor", {args.cli, "dev", "doctor"}, {}},
  };
  llorch::bench::RunRounds(commands, args.runs);
  std::filesystem::remove_all(work);
  const double script = llorch::bench::Median(commands[0].millis);
  std::printf("doctor, median of %d runs (HF_HUB_OFFLINE=1: no network wait)\n", args.runs);
  for (const Command& command : commands) {
    const double median = llorch::bench::Median(command.millis);
    std::printf("  %-30s %8.2f ms   %6.3fx the sequential script\n", command.label.c_str(), median,
                median / script);
  }
  return 0;
}
