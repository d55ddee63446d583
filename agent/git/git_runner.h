// Running git for the agent: by argv (never a shell) as `git -c protocol.ext.allow=never -C <dir>
// <args...>` (an ext:: URL in a checkout's .gitmodules would run a command), in the C locale
// (so messages and machine formats are the same everywhere), with no prompts (a missing
// credential fails instead of waiting for a terminal: GIT_TERMINAL_PROMPT=0, and ssh in batch
// mode unless GIT_SSH_COMMAND is set already), a time limit, stdout kept for the parsers and
// stderr kept for error messages. Thread-safe: every call is its own process.
#ifndef LLORCH_AGENT_GIT_GIT_RUNNER_H_
#define LLORCH_AGENT_GIT_GIT_RUNNER_H_

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/subprocess.h"

namespace llorch {

struct GitOptions {
  std::string git = "git";                             // a name in PATH or a path
  absl::Duration local_timeout = absl::Seconds(60);    // status, config, log, checkout
  absl::Duration network_timeout = absl::Minutes(30);  // fetch, pull, submodule update
  std::map<std::string, std::string> env;              // on top of the agent's environment
};

struct GitResult {
  int exit_code = -1;
  std::string out;               // stdout, lines joined by '\n', no trailing newline (but see
                                 // OutputBytes)
  std::vector<std::string> err;  // the last lines of stderr
  bool timed_out = false;
  bool cancelled = false;

  bool ok() const { return exit_code == 0 && !timed_out && !cancelled; }
  // The last non-empty stderr line without git's "fatal: " / "error: " prefix; "" when none.
  std::string LastError() const;
};

// How one run is watched: git's stderr lines as they come (progress redraws included), and a
// cancellation check polled every 100 ms.
struct GitWatch {
  std::function<void(const OutputLine& line)> on_line;
  std::function<bool()> cancelled;
};

class GitRunner {
 public:
  explicit GitRunner(GitOptions options = {});

  // Runs git in `dir`. Errors only when git cannot be started (NotFound with an install hint);
  // a git that fails is a GitResult with its exit code. `network` selects the longer limit.
  absl::StatusOr<GitResult> Run(const std::filesystem::path& dir,
                                const std::vector<std::string>& args, bool network = false,
                                const GitWatch& watch = {}) const;

  // Runs git and returns its stdout; a failure is an error (Internal, or DeadlineExceeded /
  // Cancelled) whose message says "git <args> failed in <dir>: <git's error line>".
  absl::StatusOr<std::string> Output(const std::filesystem::path& dir,
                                     const std::vector<std::string>& args, bool network = false,
                                     const GitWatch& watch = {}) const;

  // Output() with stdout byte for byte, for the NUL-separated formats (`-z`): paths come
  // unquoted, whatever bytes they hold.
  absl::StatusOr<std::string> OutputBytes(const std::filesystem::path& dir,
                                          const std::vector<std::string>& args) const;

  // The error for a failed result, as Output() words it.
  static absl::Status Failure(const std::filesystem::path& dir,
                              const std::vector<std::string>& args, const GitResult& result);

 private:
  // Run(); with `exact`, result.out is stdout as git wrote it.
  absl::StatusOr<GitResult> Execute(const std::filesystem::path& dir,
                                    const std::vector<std::string>& args, bool network,
                                    const GitWatch& watch, bool exact) const;

  GitOptions options_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_GIT_RUNNER_H_
