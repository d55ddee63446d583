// One external command asked about the host (the doctor's checks, the GPU inventory): run by argv
// with a time bound, its output kept. A command that does not end within the bound is stopped
// (its whole process group) and reported as cut off; a program that is not there is reported as
// missing, not as an error.
#ifndef LLORCH_COMMON_PROBE_H_
#define LLORCH_COMMON_PROBE_H_

#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace llorch {

struct ProbeResult {
  bool found = false;            // the program exists in PATH (or at its path) and is executable
  std::string program;           // its absolute path when found
  bool timed_out = false;        // cut off at the bound
  int exit_code = -1;            // when it exited
  std::string start_error;       // it exists but could not be started
  std::vector<std::string> out;  // stdout lines (the first 256)
  std::vector<std::string> err;  // the last stderr lines

  bool succeeded() const { return found && !timed_out && start_error.empty() && exit_code == 0; }
  // The first stdout line, else "".
  std::string FirstLine() const { return out.empty() ? "" : out.front(); }
  // Why it did not succeed, for a check's detail: "did not answer within 5s and was stopped",
  // "exit 9: <its last error line>", "cannot start it: ...".
  std::string Failure(absl::Duration timeout) const;
};

// Runs `argv` (argv[0] a name looked up in the agent's PATH, or in `path_env` when given, or a
// path) for at most `timeout`.
ProbeResult Probe(const std::vector<std::string>& argv, absl::Duration timeout,
                  const std::optional<std::string>& path_env = std::nullopt);

// The absolute path of `program` in the agent's PATH (or `program` itself when it is a path to
// an executable); "" when there is none.
std::string FindProgram(const std::string& program);

}  // namespace llorch

#endif  // LLORCH_COMMON_PROBE_H_
