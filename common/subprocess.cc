#include "common/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <deque>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace llorch {
namespace {

// execvp's fallback when no PATH is set at all.
constexpr char kDefaultPath[] = "/usr/local/bin:/usr/bin:/bin";

bool IsExecutableFile(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && access(path.c_str(), X_OK) == 0;
}

// Cuts one stream's bytes into lines: '\n', "\r\n" and a lone '\r' (a redraw) end a line.
class LineSplitter {
 public:
  LineSplitter(OutputLine::Stream stream, const SubprocessOptions& options,
               std::deque<std::string>* tail)
      : stream_(stream), options_(options), tail_(tail) {}

  void Feed(const char* data, size_t size) {
    for (size_t i = 0; i < size; ++i) {
      const char c = data[i];
      if (pending_cr_) {
        pending_cr_ = false;
        if (c == '\n') {
          Emit(/*redraw=*/false);
          continue;
        }
        Emit(/*redraw=*/true);
      }
      if (c == '\n') {
        Emit(/*redraw=*/false);
      } else if (c == '\r') {
        pending_cr_ = true;
      } else {
        buffer_.push_back(c);
        if (buffer_.size() >= options_.max_line_bytes) Emit(/*redraw=*/false);
      }
    }
  }

  // The end of the stream: a last line without a terminator is still a line.
  void Finish() {
    if (pending_cr_ || !buffer_.empty()) Emit(pending_cr_);
    pending_cr_ = false;
  }

 private:
  void Emit(bool redraw) {
    // tqdm starts each redraw with '\r': the empty "line" before it is no line at all.
    if (!(redraw && buffer_.empty())) {
      if (options_.on_line) options_.on_line(OutputLine{stream_, buffer_, redraw});
      if (stream_ == OutputLine::Stream::kStderr && !redraw && options_.tail_lines > 0) {
        tail_->push_back(buffer_);
        if (tail_->size() > options_.tail_lines) tail_->pop_front();
      }
    }
    buffer_.clear();
  }

  const OutputLine::Stream stream_;
  const SubprocessOptions& options_;
  std::deque<std::string>* tail_;
  std::string buffer_;
  bool pending_cr_ = false;
};

// The environment block for the child.
std::vector<std::string> ChildEnvironment(const SubprocessOptions& options) {
  std::map<std::string, std::string> merged;
  if (!options.clear_env) {
    for (char** entry = environ; *entry != nullptr; ++entry) {
      absl::string_view text(*entry);
      const size_t eq = text.find('=');
      if (eq == absl::string_view::npos) continue;
      merged[std::string(text.substr(0, eq))] = std::string(text.substr(eq + 1));
    }
  }
  for (const auto& [key, value] : options.env) merged[key] = value;
  std::vector<std::string> block;
  block.reserve(merged.size());
  for (const auto& [key, value] : merged) block.push_back(absl::StrCat(key, "=", value));
  return block;
}

// Closes a file descriptor once.
void CloseFd(int* fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

}  // namespace

std::string SubprocessResult::Describe() const {
  if (signal != 0) return absl::StrCat("killed by signal ", signal, " (", strsignal(signal), ")");
  return absl::StrCat("exit ", exit_code);
}

std::optional<std::string> FindExecutable(absl::string_view program, absl::string_view path_env) {
  if (program.empty()) return std::nullopt;
  if (program.find('/') != absl::string_view::npos) {
    std::string path(program);
    if (!IsExecutableFile(path)) return std::nullopt;
    if (path[0] == '/') return path;
    char* cwd = getcwd(nullptr, 0);
    if (cwd == nullptr) return path;
    std::string absolute = absl::StrCat(cwd, "/", path);
    free(cwd);
    return absolute;
  }
  for (absl::string_view dir : absl::StrSplit(path_env, ':')) {
    std::string candidate = dir.empty() ? std::string(program) : absl::StrCat(dir, "/", program);
    if (IsExecutableFile(candidate)) return FindExecutable(candidate, "");
  }
  return std::nullopt;
}

std::string EffectivePath(const SubprocessOptions& options) {
  if (auto it = options.env.find("PATH"); it != options.env.end()) return it->second;
  if (options.clear_env) return kDefaultPath;
  const char* path = getenv("PATH");
  return path != nullptr ? path : kDefaultPath;
}

absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options) {
  if (options.argv.empty() || options.argv[0].empty()) {
    return absl::InvalidArgumentError("no program to run (empty argv)");
  }
  const std::string& program = options.argv[0];
  const std::string path_env = EffectivePath(options);
  std::optional<std::string> executable = FindExecutable(program, path_env);
  if (!executable) {
    if (program.find('/') == std::string::npos) {
      return absl::NotFoundError(
          absl::StrCat("program '", program, "' was not found in PATH (", path_env, ")"));
    }
    if (access(program.c_str(), F_OK) == 0) {
      return absl::PermissionDeniedError(absl::StrCat(program, " is not an executable file"));
    }
    return absl::NotFoundError(absl::StrCat(program, " does not exist"));
  }
  if (!options.working_dir.empty()) {
    struct stat info {};
    if (stat(options.working_dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode)) {
      return absl::NotFoundError(
          absl::StrCat("working directory ", options.working_dir, " does not exist"));
    }
  }

  int out_pipe[2] = {-1, -1};
  int err_pipe[2] = {-1, -1};
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    const int error = errno;
    CloseFd(&out_pipe[0]);
    CloseFd(&out_pipe[1]);
    return absl::InternalError(absl::StrCat("cannot create pipes: ", strerror(error)));
  }

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  if (!options.working_dir.empty()) {
    posix_spawn_file_actions_addchdir_np(&actions, options.working_dir.c_str());
  }
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t no_signals, all_signals;
  sigemptyset(&no_signals);
  sigfillset(&all_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  posix_spawnattr_setsigdefault(&attributes, &all_signals);
  posix_spawnattr_setpgroup(&attributes, 0);  // its own group, so a stop reaches its children
  posix_spawnattr_setflags(&attributes,
                           POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (const std::string& arg : options.argv) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_block = ChildEnvironment(options);
  std::vector<char*> envp;
  for (std::string& entry : env_block) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = -1;
  const int spawn_error =
      posix_spawn(&pid, executable->c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  CloseFd(&out_pipe[1]);
  CloseFd(&err_pipe[1]);
  if (spawn_error != 0) {
    CloseFd(&out_pipe[0]);
    CloseFd(&err_pipe[0]);
    const std::string message =
        absl::StrCat("cannot start ", *executable, ": ", strerror(spawn_error));
    if (spawn_error == EACCES) return absl::PermissionDeniedError(message);
    if (spawn_error == ENOENT || spawn_error == ENOEXEC) return absl::NotFoundError(message);
    return absl::InternalError(message);
  }

  SubprocessResult result;
  std::deque<std::string> tail;
  LineSplitter out_lines(OutputLine::Stream::kStdout, options, &tail);
  LineSplitter err_lines(OutputLine::Stream::kStderr, options, &tail);
  int fds[2] = {out_pipe[0], err_pipe[0]};
  LineSplitter* splitters[2] = {&out_lines, &err_lines};

  // Readable once the child has exited, so its end wakes the loop at once (kernels before 5.3
  // have none; then the exit is looked for every 10 ms).
  int exit_fd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));
  bool reaped = false;
  bool killed = false;
  absl::Time exited_at, term_sent_at;
  absl::Time next_tick = absl::Now() + options.poll_interval;
  char buffer[64 << 10];
  while (true) {
    if (!reaped) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        reaped = true;
        CloseFd(&exit_fd);
        exited_at = absl::Now();
        if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
        if (WIFSIGNALED(status)) result.signal = WTERMSIG(status);
      }
    }
    const bool pipes_open = fds[0] >= 0 || fds[1] >= 0;
    // A grandchild may hold the pipes open after the child is gone: stop reading then.
    if (reaped && (!pipes_open || absl::Now() - exited_at >= options.kill_grace)) break;
    if (!result.stopped && options.should_stop && options.should_stop()) {
      result.stopped = true;
      term_sent_at = absl::Now();
      kill(-pid, SIGTERM);
    }
    if (result.stopped && !killed && absl::Now() - term_sent_at >= options.kill_grace) {
      killed = true;
      kill(-pid, SIGKILL);
    }
    if (options.on_tick && absl::Now() >= next_tick) {
      next_tick = absl::Now() + options.poll_interval;
      if (!reaped) options.on_tick();
    }
    pollfd polled[3] = {{fds[0], POLLIN, 0}, {fds[1], POLLIN, 0}, {exit_fd, POLLIN, 0}};
    // fd -1 is skipped. Without a pidfd, with the pipes closed, only the exit is awaited: look
    // again soon.
    const int timeout_ms = pipes_open || exit_fd >= 0
                               ? static_cast<int>(absl::ToInt64Milliseconds(options.poll_interval))
                               : 10;
    const int ready = poll(polled, 3, std::max(timeout_ms, 1));
    if (ready < 0 && errno != EINTR) {
      // Cannot happen with valid descriptors; stop reading but still reap the child.
      for (int i = 0; i < 2; ++i) {
        if (fds[i] >= 0) splitters[i]->Finish();
        CloseFd(&fds[i]);
      }
      continue;
    }
    for (int i = 0; i < 2 && ready > 0; ++i) {
      if (polled[i].fd < 0 || polled[i].revents == 0) continue;
      const ssize_t n = read(fds[i], buffer, sizeof(buffer));
      if (n > 0 && i == 0 && options.on_stdout_bytes) {
        options.on_stdout_bytes(absl::string_view(buffer, static_cast<size_t>(n)));
      } else if (n > 0) {
        splitters[i]->Feed(buffer, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        splitters[i]->Finish();
        CloseFd(&fds[i]);
      }
    }
  }
  for (int i = 0; i < 2; ++i) {
    if (fds[i] >= 0) splitters[i]->Finish();
    CloseFd(&fds[i]);
  }
  CloseFd(&exit_fd);
  // Whatever of a stopped child's group is still alive goes too.
  if (result.stopped) kill(-pid, SIGKILL);
  result.stderr_tail.assign(tail.begin(), tail.end());
  return result;
}

}  // namespace llorch
