// Startup benchmark: `llorch-pool models catalog` (standalone) and `llorch-pool --help`, side by
// side with `python3 -c pass`, the floor of any Python tool such as `hf`.
//
// Each command runs in interleaved rounds (drift hits all alike), started with posix_spawn and
// output to /dev/null, timed from spawn to exit. Prints medians and ratios to the Python floor.
// Usage: startup_bench LLORCH_POOL [RUNS]
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

namespace {

struct Command {
  std::string label;
  std::vector<std::string> argv;
  std::vector<double> millis;
};

double RunOnce(const std::vector<std::string>& argv) {
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
    std::fprintf(stderr, "%s failed\n", args[0]);
    std::exit(1);
  }
  return std::chrono::duration<double, std::milli>(end - start).count();
}

double Median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s LLORCH_POOL [RUNS]\n", argv[0]);
    return 2;
  }
  const std::string cli = argv[1];
  const int runs = argc > 2 ? std::atoi(argv[2]) : 50;
  // No agent answers here, so the catalog runs in-process (standalone mode).
  char work[] = "/tmp/llorch-bench-XXXXXX";
  if (mkdtemp(work) == nullptr) return 1;
  setenv("XDG_RUNTIME_DIR", work, 1);
  setenv("XDG_CONFIG_HOME", work, 1);
  if (chdir(work) != 0) return 1;

  std::vector<Command> commands = {
      {"python3 -c pass", {"python3", "-c", "pass"}, {}},
      {"llorch-pool models catalog", {cli, "models", "catalog"}, {}},
      {"llorch-pool --help", {cli, "--help"}, {}},
  };
  if (access("/usr/bin/python3", X_OK) == 0) {
    commands.push_back({"/usr/bin/python3 -c pass", {"/usr/bin/python3", "-c", "pass"}, {}});
  }
  for (Command& command : commands) RunOnce(command.argv);  // warm the page cache
  for (int i = 0; i < runs; ++i) {
    for (Command& command : commands) command.millis.push_back(RunOnce(command.argv));
  }
  rmdir(work);
  const double floor = Median(commands[0].millis);
  std::printf("startup, median of %d runs (python3 as found on PATH)\n", runs);
  for (const Command& command : commands) {
    const double median = Median(command.millis);
    std::printf("  %-30s %8.2f ms   %6.3fx python3 -c pass\n", command.label.c_str(), median,
                median / floor);
  }
  return 0;
}
