// Runs a program as a user would from a shell (without one): argv vector, environment, captured
// stdout and stderr, exit code. For end-to-end and integration tests.
#ifndef LLORCH_TESTS_SUPPORT_RUN_COMMAND_H_
#define LLORCH_TESTS_SUPPORT_RUN_COMMAND_H_

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace llorch::testing {

struct CommandResult {
  int exit_code = -1;  // 128 + signal number when killed by a signal
  std::string out;
  std::string err;
};

// Where a program's stdout goes.
enum class StdoutTarget {
  kCaptured,    // into CommandResult::out
  kFile,        // the file CommandOptions::stdout_file, opened for writing (e.g. "/dev/full")
  kClosed,      // nowhere: descriptor 1 is closed, as with `cmd >&-`
  kBrokenPipe,  // a pipe whose reader is gone, as with `cmd | head` after head exited
};

struct CommandOptions {
  // Replaces the whole environment when set; otherwise the test's environment is inherited.
  std::optional<std::map<std::string, std::string>> env;
  std::string working_dir;  // empty: inherit
  StdoutTarget stdout_target = StdoutTarget::kCaptured;
  std::string stdout_file;  // for StdoutTarget::kFile
};

CommandResult RunCommand(const std::vector<std::string>& argv, const CommandOptions& options = {});

// A program left running in the background, its output going to files; killed (SIGKILL) and
// reaped on destruction if still running.
class BackgroundProcess {
 public:
  BackgroundProcess(const std::vector<std::string>& argv, const CommandOptions& options,
                    const std::string& log_path);
  ~BackgroundProcess();
  BackgroundProcess(const BackgroundProcess&) = delete;
  BackgroundProcess& operator=(const BackgroundProcess&) = delete;

  int pid() const { return pid_; }
  // Sends `signal` and waits for the exit; returns the exit code (128 + signal when killed).
  int Stop(int signal);
  // Waits for the process to exit on its own.
  int Wait();
  // True once the process has exited (then Wait() returns at once); never blocks.
  bool Exited();

 private:
  int pid_ = -1;
  int exit_code_ = -1;
};

// `argv` run as the user and group `id` with no supplementary groups (through setpriv): for tests
// that need another user than the one running them, which must be root.
std::vector<std::string> AsUser(unsigned id, const std::vector<std::string>& argv);

// Polls `condition` every 10 ms for up to `seconds`. Returns its last value.
bool WaitFor(const std::function<bool()>& condition, double seconds = 10);

// The current environment as a map, to copy and modify.
std::map<std::string, std::string> CurrentEnvironment();

// The bytes of the file at `path`; "" when it cannot be read.
std::string ReadFileBytes(const std::string& path);
// Writes `bytes` to `path`, creating its parent directories.
void WriteFileBytes(const std::string& path, const std::string& bytes);

// A fresh temporary directory, removed with its contents when the object is destroyed.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_RUN_COMMAND_H_
