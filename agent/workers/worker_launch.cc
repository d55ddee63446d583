#include "agent/workers/worker_launch.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace llorch {
namespace {

// The agent's environment with CUDA_DEVICE_ORDER=PCI_BUS_ID. CUDA numbers the GPUs fastest first
// unless told otherwise; nvidia-smi and NVML, whose indexes `--gpu` and the GPU checks use, number
// them by PCI bus. On a host with different GPUs `--cuda-device 1` would start on another card
// than the one listed as GPU 1.
std::vector<std::string> WorkerEnvironment() {
  constexpr char kOrder[] = "CUDA_DEVICE_ORDER=";
  std::vector<std::string> environment;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, kOrder, sizeof(kOrder) - 1) != 0) environment.emplace_back(*entry);
  }
  environment.push_back(absl::StrCat(kOrder, "PCI_BUS_ID"));
  return environment;
}

}  // namespace

absl::StatusOr<pid_t> LaunchWorkerProcess(const std::vector<std::string>& argv, int log_fd) {
  if (argv.empty()) return absl::InvalidArgumentError("a worker needs a program to run");
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const std::vector<std::string> environment = WorkerEnvironment();
  std::vector<char*> env;
  for (const std::string& entry : environment) env.push_back(const_cast<char*>(entry.c_str()));
  env.push_back(nullptr);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  sigset_t all_signals;
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setsigdefault(&attributes, &all_signals);
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = 0;
  const int error = posix_spawn(&pid, args[0], &actions, &attributes, args.data(), env.data());
  posix_spawnattr_destroy(&attributes);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    return absl::InternalError(absl::StrCat("cannot start ", argv[0], ": ", std::strerror(error)));
  }
  return pid;
}

int ExitCodeOf(int wait_status) {
  if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
  if (WIFEXITED(wait_status)) return WEXITSTATUS(wait_status);
  return -1;
}

std::vector<std::string> LastLines(const DirFd& dir, const std::string& name, size_t count) {
  constexpr off_t kTailBytes = 64 << 10;
  absl::StatusOr<UniqueFd> fd = dir.OpenRegularFile(name);
  if (!fd.ok()) return {};
  struct stat info {};
  if (fstat(fd->get(), &info) != 0) return {};
  const off_t start = info.st_size > kTailBytes ? info.st_size - kTailBytes : 0;
  std::string text(static_cast<size_t>(info.st_size - start), '\0');
  const ssize_t n = pread(fd->get(), text.data(), text.size(), start);
  if (n <= 0) return {};
  text.resize(static_cast<size_t>(n));
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (start > 0 && !lines.empty()) lines.erase(lines.begin());  // cut in the middle
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - count);
  return lines;
}

}  // namespace llorch
