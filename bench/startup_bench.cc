// Startup benchmark: `llorch-pool models catalog` (standalone), `--help` and `version`, side by
// side with `python3 -c pass`, the floor of any Python tool such as `hf`, and `git --version`, a
// native CLI's start. Interleaved rounds; prints medians and ratios to /usr/bin/python3 (python3
// on PATH when there is none) and to git. The bars: catalog at most 1.0x /usr/bin/python3,
// --help at most 2x git --version.
// Usage: startup_bench LLORCH_POOL [RUNS]
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

#include "bench/bench_util.h"

int main(int argc, char** argv) {
  using llorch::bench::Command;
  const llorch::bench::Args args = llorch::bench::ParseArgs(argc, argv, 50);
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  const std::string& cli = args.cli;
  const int runs = args.runs;

  std::vector<Command> commands = {
      {"python3 -c pass", {"python3", "-c", "pass"}, {}},
      {"llorch-pool models catalog", {cli, "models", "catalog"}, {}},
      {"llorch-pool --help", {cli, "--help"}, {}},
      {"llorch-pool version", {cli, "version"}, {}},
      {"git --version", {"git", "--version"}, {}},
  };
  const size_t git_index = commands.size() - 1;
  if (access("/usr/bin/python3", X_OK) == 0) {
    commands.push_back({"/usr/bin/python3 -c pass", {"/usr/bin/python3", "-c", "pass"}, {}});
  }
  llorch::bench::RunRounds(commands, runs);
  std::filesystem::remove_all(work);
  // The bar is the system interpreter's: the one on PATH may be a slower shim (pyenv).
  const double floor = llorch::bench::Median(commands.back().millis);
  const double git = llorch::bench::Median(commands[git_index].millis);
  std::printf("startup, median of %d runs\n", runs);
  for (const Command& command : commands) {
    const double median = llorch::bench::Median(command.millis);
    std::printf("  %-30s %8.2f ms   %6.3fx %s   %6.2fx git --version\n", command.label.c_str(),
                median, median / floor, commands.back().label.c_str(), median / git);
  }
  return 0;
}
