#include "tests/support/pty_session.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace llorch::testing {
namespace {

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

}  // namespace

PtySession::PtySession(const std::vector<std::string>& argv, const CommandOptions& options,
                       int columns, int rows) {
  master_ = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master_ < 0 || grantpt(master_) != 0 || unlockpt(master_) != 0) {
    throw std::runtime_error("cannot open a pseudo-terminal");
  }
  const std::string slave_name = ptsname(master_);
  // Everything the child needs, made before fork (only async-signal-safe calls after it).
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  std::vector<std::string> env_strings;
  if (options.env) {
    for (const auto& [key, value] : *options.env) env_strings.push_back(key + "=" + value);
  }
  std::vector<char*> env;
  for (std::string& entry : env_strings) env.push_back(entry.data());
  env.push_back(nullptr);
  const struct winsize size = {static_cast<unsigned short>(rows),
                               static_cast<unsigned short>(columns), 0, 0};
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    setsid();
    const int slave = open(slave_name.c_str(), O_RDWR);
    if (slave < 0) _exit(126);
    ioctl(slave, TIOCSCTTY, 0);
    ioctl(slave, TIOCSWINSZ, &size);
    dup2(slave, 0);
    dup2(slave, 1);
    dup2(slave, 2);
    if (slave > 2) close(slave);
    if (!options.working_dir.empty() && chdir(options.working_dir.c_str()) != 0) _exit(126);
    if (options.env) {
      execve(args[0], args.data(), env.data());
    } else {
      execv(args[0], args.data());
    }
    _exit(127);
  }
}

PtySession::~PtySession() {
  if (exit_code_ < 0 && pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  if (master_ >= 0) close(master_);
}

int PtySession::ReadSome(std::chrono::milliseconds timeout) {
  struct pollfd fd = {master_, POLLIN, 0};
  if (poll(&fd, 1, static_cast<int>(timeout.count())) <= 0) return 0;
  char buffer[4096];
  const ssize_t n = read(master_, buffer, sizeof(buffer));
  if (n > 0) {
    screen_.append(buffer, static_cast<size_t>(n));
    return static_cast<int>(n);
  }
  return n < 0 && errno == EINTR ? 0 : -1;  // EIO: every holder of the terminal's side is gone
}

bool PtySession::WaitFor(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (screen_.find(text) == std::string::npos) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ReadSome(std::min(left, std::chrono::milliseconds(100))) < 0) break;
  }
  return screen_.find(text) != std::string::npos;
}

void PtySession::Type(const std::string& keys) {
  if (write(master_, keys.data(), keys.size()) != static_cast<ssize_t>(keys.size())) {
    throw std::runtime_error("cannot type on the pseudo-terminal");
  }
}

std::string PtySession::text() const {
  std::string out;
  for (size_t i = 0; i < screen_.size(); ++i) {
    if (screen_[i] == '\x1b' && i + 1 < screen_.size() && screen_[i + 1] == '[') {
      i += 2;
      while (i < screen_.size() && !(screen_[i] >= '@' && screen_[i] <= '~')) ++i;
      continue;
    }
    if (screen_[i] == '\r' && i + 1 < screen_.size() && screen_[i + 1] == '\n') continue;
    out += screen_[i];
  }
  return out;
}

int PtySession::Wait(std::chrono::milliseconds timeout) {
  if (exit_code_ >= 0) return exit_code_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid_, &status, WNOHANG);
    if (done == pid_) break;
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    ReadSome(std::chrono::milliseconds(20));
  }
  while (ReadSome(std::chrono::milliseconds(20)) > 0) {  // what it wrote before it ended
  }
  exit_code_ = ExitCodeOf(status);
  return exit_code_;
}

}  // namespace llorch::testing
