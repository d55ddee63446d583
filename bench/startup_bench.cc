// Startup benchmark: `llorch-pool models catalog` (standalone) and `llorch-pool --help`, side by
// side with `python3 -c pass`, the floor of any Python tool such as `hf`. Interleaved rounds;
// prints medians and ratios to the Python floor.
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
  };
  if (access("/usr/bin/python3", X_OK) == 0) {
    commands.push_back({"/usr/bin/python3 -c pass", {"/usr/bin/python3", "-c", "pass"}, {}});
  }
  llorch::bench::RunRounds(commands, runs);
  std::filesystem::remove_all(work);
  const double floor = llorch::bench::Median(commands[0].millis);
  std::printf("startup, median of %d runs (python3 as found on PATH)\n", runs);
  for (const Command& command : commands) {
    const double median = llorch::bench::Median(command.millis);
    std::printf("  %-30s %8.2f ms   %6.3fx python3 -c pass\n", command.label.c_str(), median,
                median / floor);
  }
  return 0;
}
