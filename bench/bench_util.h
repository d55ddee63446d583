// What the benchmarks share: run a command (output discarded) and time it; medians.
#ifndef LLORCH_BENCH_BENCH_UTIL_H_
#define LLORCH_BENCH_BENCH_UTIL_H_

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

extern char** environ;

namespace llorch::bench {

struct Command {
  std::string label;
  std::vector<std::string> argv;
  std::vector<double> millis;
};

// Runs argv (looked up in PATH) with stdout and stderr to /dev/null; returns the wall time in
// milliseconds from spawn to exit. Exits the benchmark if the command fails.
inline double TimeCommand(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const auto start = std::chrono::steady_clock::now();
  pid_t pid = 0;
  if (posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) != 0) {
    std::fprintf(stderr, "cannot run %s\n", args[0]);
    std::exit(1);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  const auto end = std::chrono::steady_clock::now();
  posix_spawn_file_actions_destroy(&actions);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed (status %d)\n", args[0], status);
    std::exit(1);
  }
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// Runs every command once to warm caches, then `runs` interleaved rounds.
inline void RunRounds(std::vector<Command>& commands, int runs) {
  for (Command& command : commands) TimeCommand(command.argv);
  for (int i = 0; i < runs; ++i) {
    for (Command& command : commands) command.millis.push_back(TimeCommand(command.argv));
  }
}

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace llorch::bench

#endif  // LLORCH_BENCH_BENCH_UTIL_H_
