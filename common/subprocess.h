// Running a child program by argv (never a shell) with its output read line by line, and
// stopping it on request.
//
//   SubprocessOptions options;
//   options.argv = {"/usr/bin/git", "fetch", "--", remote};
//   options.on_line = [&](const OutputLine& line) { op.Log(..., line.text); };
//   options.should_stop = [&] { return op.cancel_requested(); };
//   absl::StatusOr<SubprocessResult> result = RunSubprocess(options);
//
// The child runs in its own process group with stdin from /dev/null, default signal dispositions
// and an empty signal mask (the agent ignores SIGPIPE; a child must not inherit that). Stopping
// sends SIGTERM to the whole group (a Python tool's own children die with it), then SIGKILL after
// `kill_grace`. RunSubprocess returns once the child has been reaped and its output read to the
// end (or, when the child left a grandchild holding the pipes, `kill_grace` after its exit).
// Thread-safe: callbacks run on the calling thread; pipes are close-on-exec, so children started
// at the same time by other threads do not inherit them.
#ifndef LLORCH_COMMON_SUBPROCESS_H_
#define LLORCH_COMMON_SUBPROCESS_H_

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace llorch {

// One line of a child's output, without its line terminator.
struct OutputLine {
  enum class Stream { kStdout, kStderr };
  Stream stream = Stream::kStdout;
  absl::string_view text;
  // Ended by a lone '\r': a progress bar redrawing itself (tqdm, git). Callers usually throttle
  // these. "\r\n" ends an ordinary line.
  bool redraw = false;
};

struct SubprocessOptions {
  // argv[0] is the program: a path (contains '/') or a name looked up in PATH (the PATH of
  // `env` when it sets one, else the agent's).
  std::vector<std::string> argv;
  // The child's environment: the agent's, with these variables set on top (an empty value sets
  // an empty variable). `clear_env` starts from nothing instead.
  std::map<std::string, std::string> env;
  bool clear_env = false;
  std::string working_dir;  // "" = the agent's
  // Called for every complete line; lines longer than `max_line_bytes` are cut into pieces.
  std::function<void(const OutputLine&)> on_line;
  // When set, stdout is handed over byte for byte as it is read (NUL-separated formats), and
  // on_line sees only stderr.
  std::function<void(absl::string_view bytes)> on_stdout_bytes;
  // Polled every `poll_interval`; once it returns true the child's group is stopped.
  std::function<bool()> should_stop;
  // Called every `poll_interval` while the child runs (for progress by polling files).
  std::function<void()> on_tick;
  absl::Duration poll_interval = absl::Milliseconds(100);
  absl::Duration kill_grace = absl::Seconds(3);  // SIGTERM -> SIGKILL
  size_t max_line_bytes = 64 << 10;
  size_t tail_lines = 20;  // how many stderr lines SubprocessResult keeps
};

struct SubprocessResult {
  // The exit status when the child exited, else -1.
  int exit_code = -1;
  // The signal that killed it, else 0.
  int signal = 0;
  // should_stop() returned true and the child was stopped (whatever its exit status says).
  bool stopped = false;
  // The last `tail_lines` lines of stderr (redraw lines left out), oldest first: for errors.
  std::vector<std::string> stderr_tail;

  bool succeeded() const { return exit_code == 0 && !stopped; }
  // "exit 1", "killed by signal 9 (Killed)".
  std::string Describe() const;
};

// Runs the child to its end. Errors only when it cannot be started: NotFound (no such program,
// with the PATH searched), PermissionDenied (not executable), InvalidArgument (empty argv),
// Internal (pipes, spawn). Everything after a successful start is in the result.
absl::StatusOr<SubprocessResult> RunSubprocess(const SubprocessOptions& options);

// The absolute path of `program` as RunSubprocess would run it: `program` itself when it has a
// '/' (if it is an executable file), else the first executable `dir/program` in `path_env`
// (colon-separated; empty entries mean the working directory). nullopt when there is none.
std::optional<std::string> FindExecutable(absl::string_view program, absl::string_view path_env);

// The PATH the child of `options` would search: options.env's, else the agent's.
std::string EffectivePath(const SubprocessOptions& options);

}  // namespace llorch

#endif  // LLORCH_COMMON_SUBPROCESS_H_
