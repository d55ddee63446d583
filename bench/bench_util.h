// What the benchmarks share: run a command (output discarded) and time it; medians.
#ifndef LLORCH_BENCH_BENCH_UTIL_H_
#define LLORCH_BENCH_BENCH_UTIL_H_

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

extern char** environ;

namespace llorch::bench {

struct Command {
  std::string label;
  std::vector<std::string> argv;
  std::vector<double> millis;
};

// Starts argv (looked up in PATH) with stdout (unless `stdout_fd` names where it goes) and stderr
// to /dev/null. Exits the benchmark if it cannot.
inline pid_t SpawnQuiet(const std::vector<std::string>& argv, int stdout_fd = -1) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (stdout_fd >= 0) {
    posix_spawn_file_actions_adddup2(&actions, stdout_fd, 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  }
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  const int error = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    std::fprintf(stderr, "cannot run %s\n", args[0]);
    std::exit(1);
  }
  return pid;
}

// Waits for `pid` (running `program`). Exits the benchmark unless it exited 0.
inline void WaitSucceeded(pid_t pid, const std::string& program) {
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "%s failed (status %d)\n", program.c_str(), status);
    std::exit(1);
  }
}

// Runs argv as SpawnQuiet does; returns the wall time in milliseconds from spawn to exit. Exits
// the benchmark if the command fails.
inline double TimeCommand(const std::vector<std::string>& argv) {
  const auto start = std::chrono::steady_clock::now();
  WaitSucceeded(SpawnQuiet(argv), argv[0]);
  const auto end = std::chrono::steady_clock::now();
  return std::chrono::duration<double, std::milli>(end - start).count();
}

// Runs every command once to warm caches (unless `warm_up` is false), then `runs` interleaved
// rounds. `before_each` (may be unset) runs, untimed, before every run of every command: e.g. to
// delete what the last run made.
inline void RunRounds(std::vector<Command>& commands, int runs,
                      const std::function<void()>& before_each = {}, bool warm_up = true) {
  auto time = [&before_each](const Command& command) {
    if (before_each) before_each();
    return TimeCommand(command.argv);
  };
  if (warm_up) {
    for (Command& command : commands) time(command);
  }
  for (int i = 0; i < runs; ++i) {
    for (Command& command : commands) command.millis.push_back(time(command));
  }
}

// The benchmarks' arguments: LLORCH_POOL (made absolute: the benchmarks chdir) [RUNS] [extra...].
struct Args {
  std::string cli;
  int runs = 0;
  std::vector<std::string> extra;
};

inline Args ParseArgs(int argc, char** argv, int default_runs, const char* extra_usage = "") {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LLORCH_POOL [RUNS]%s\n", argv[0], extra_usage);
    std::exit(2);
  }
  Args args;
  args.cli = std::filesystem::absolute(argv[1]).string();
  args.runs = argc > 2 ? std::atoi(argv[2]) : default_runs;
  for (int i = 3; i < argc; ++i) args.extra.push_back(argv[i]);
  return args;
}

// Makes a fresh temp dir the working directory, with XDG dirs inside it so that no agent answers
// and no user config is read: the CLI runs standalone. Returns its path; exits on failure.
inline std::string EnterStandaloneWorkDir() {
  char work[] = "/tmp/llorch-bench-XXXXXX";
  if (mkdtemp(work) == nullptr || chdir(work) != 0) {
    std::perror("cannot make a work directory");
    std::exit(1);
  }
  setenv("XDG_RUNTIME_DIR", work, 1);
  setenv("XDG_CONFIG_HOME", work, 1);
  return work;
}

// The smallest valid GGUF v3 header: no tensors, general.architecture = "llama".
inline std::string MinimalGgufHeader() {
  std::string out = "GGUF";
  auto put = [&out](uint64_t value, int bytes) {
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>(value >> (8 * i)));
  };
  auto put_string = [&](const std::string& text) {
    put(text.size(), 8);
    out += text;
  };
  put(3, 4);  // version
  put(0, 8);  // tensors
  put(1, 8);  // metadata entries
  put_string("general.architecture");
  put(8, 4);  // type: string
  put_string("llama");
  return out;
}

inline double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace llorch::bench

#endif  // LLORCH_BENCH_BENCH_UTIL_H_
