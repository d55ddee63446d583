#include "tests/support/run_command.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace llorch::testing {

namespace {

// Starts argv[0] (looked up in PATH) with `actions`, the options' working directory and
// environment. Returns the pid, or -1.
pid_t Spawn(const std::vector<std::string>& argv, const CommandOptions& options,
            posix_spawn_file_actions_t* actions) {
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(actions, options.working_dir.c_str());
  }
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  std::vector<char*> env;
  if (options.env) {
    for (const auto& [key, value] : *options.env) env_strings.push_back(key + "=" + value);
    for (std::string& entry : env_strings) env.push_back(entry.data());
  }
  env.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawnp(&pid, args[0], actions, nullptr, args.data(),
                   options.env ? env.data() : environ) != 0) {
    return -1;
  }
  return pid;
}

}  // namespace

std::map<std::string, std::string> CurrentEnvironment() {
  std::map<std::string, std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    std::string text(*entry);
    size_t eq = text.find('=');
    if (eq != std::string::npos) env[text.substr(0, eq)] = text.substr(eq + 1);
  }
  return env;
}

CommandResult RunCommand(const std::vector<std::string>& argv, const CommandOptions& options) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  switch (options.stdout_target) {
    case StdoutTarget::kCaptured:
      posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
      break;
    case StdoutTarget::kFile:
      posix_spawn_file_actions_addopen(&actions, 1, options.stdout_file.c_str(),
                                       O_WRONLY | O_CREAT | O_TRUNC, 0644);
      break;
    case StdoutTarget::kClosed:
      posix_spawn_file_actions_addclose(&actions, 1);
      break;
    case StdoutTarget::kBrokenPipe:
      close(out_pipe[0]);  // nobody will read: the first write fails with EPIPE
      out_pipe[0] = -1;
      posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
      break;
  }
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  pid_t pid = Spawn(argv, options, &actions);
  posix_spawn_file_actions_destroy(&actions);
  close(out_pipe[1]);
  close(err_pipe[1]);
  if (options.stdout_target != StdoutTarget::kCaptured && out_pipe[0] >= 0) {
    close(out_pipe[0]);
    out_pipe[0] = -1;
  }
  CommandResult result;
  if (pid < 0) {
    if (out_pipe[0] >= 0) close(out_pipe[0]);
    close(err_pipe[0]);
    result.err = "spawn failed: " + argv[0];
    return result;
  }
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};  // poll skips fd -1
  std::string* sinks[2] = {&result.out, &result.err};
  int open_fds = out_pipe[0] >= 0 ? 2 : 1;
  char buffer[65536];
  while (open_fds > 0) {
    if (poll(fds, 2, -1) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buffer, sizeof(buffer));
      if (n > 0) {
        sinks[i]->append(buffer, static_cast<size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

BackgroundProcess::BackgroundProcess(const std::vector<std::string>& argv,
                                     const CommandOptions& options, const std::string& log_path) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND,
                                   0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = Spawn(argv, options, &actions);
  posix_spawn_file_actions_destroy(&actions);
  pid_ = pid;
}

BackgroundProcess::~BackgroundProcess() {
  if (pid_ > 0 && exit_code_ < 0) Stop(SIGKILL);
}

int BackgroundProcess::Stop(int signal) {
  if (pid_ <= 0) return -1;
  if (exit_code_ < 0) kill(pid_, signal);
  return Wait();
}

int BackgroundProcess::Wait() {
  if (pid_ <= 0) return -1;
  if (exit_code_ >= 0) return exit_code_;
  int status = 0;
  waitpid(pid_, &status, 0);
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return exit_code_;
}

bool BackgroundProcess::Exited() {
  if (pid_ <= 0 || exit_code_ >= 0) return true;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) != pid_) return false;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return true;
}

std::vector<std::string> AsUser(unsigned id, const std::vector<std::string>& argv) {
  std::vector<std::string> wrapped = {"setpriv", "--reuid=" + std::to_string(id),
                                      "--regid=" + std::to_string(id), "--clear-groups", "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

bool WaitFor(const std::function<bool()>& condition, double seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return condition();
}

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "llorch-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace llorch::testing
