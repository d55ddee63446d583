// Running a program as a step of an operation, for every operation that runs one (the converter,
// the hf CLI): by argv, never a shell (common/subprocess.h); its output lines into the
// operation's log (ChildOutputLog); the operation's cancellation stops the child's whole process
// group (SIGTERM, then SIGKILL after kill_grace), so the tool's own children go with it; an exit
// other than 0 becomes an error that quotes its last stderr lines.
#ifndef LLORCH_AGENT_OPS_CHILD_PROCESS_STEP_H_
#define LLORCH_AGENT_OPS_CHILD_PROCESS_STEP_H_

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/ops/operation.h"
#include "common/subprocess.h"

namespace llorch {

// What configuration says about running a program; the options of each program an operation
// runs build on it.
struct ChildProcessOptions {
  // Set in the child's environment on top of the agent's.
  std::map<std::string, std::string> env;
  absl::Duration poll_interval = absl::Milliseconds(100);  // progress polling, cancel checks
  absl::Duration kill_grace = absl::Seconds(3);            // SIGTERM -> SIGKILL on cancel
};

// The absolute path of `program` as the child would be run: a path (with a '/') to an executable
// file, or a name looked up in the PATH the child gets (options.env's, else the agent's).
// NotFound otherwise, saying where it looked: "<program> (<config_key>) is not an executable
// file" or "`<program>` was not found in PATH (<its PATH>)".
absl::StatusOr<std::string> FindProgram(const std::string& program, absl::string_view config_key,
                                        const ChildProcessOptions& options);

struct ChildProcessStep {
  std::vector<std::string> argv;  // argv[0] as FindProgram gives it
  std::string working_dir;        // "" = the agent's
  // Names the run in a failure: "converter /x/convert_hf_to_gguf.py" makes
  // "converter /x/convert_hf_to_gguf.py failed (exit 1): ...".
  std::string name;
  // What cancelling stops: "conversion of gpt2" makes "conversion of gpt2 cancelled".
  std::string work;
  // Called every poll_interval while the child runs: progress from the files it writes.
  std::function<void()> on_tick;
  // What a failure quotes of the child's last stderr lines; unset: LastLines(tail, 3).
  std::function<std::string(const std::vector<std::string>& stderr_tail)> error_line;
  // The error to return for a failed run, given its result and the default error (Aborted,
  // "<name> failed (exit 1): <error_line>", with a hint that the whole output is in the
  // operation's log); unset: that error. For tools whose output tells more (a missing module, a
  // missing repository).
  std::function<absl::Status(const SubprocessResult& result, absl::Status failure)> explain_failure;
};

// Runs `step` as part of `op`, its command line logged first. OK once it exited 0; CANCELLED
// ("<work> cancelled") when `op` was cancelled, the child's whole process group stopped; the
// errors of RunSubprocess when it could not be started; else the failure described above.
absl::Status RunChildProcessStep(const ChildProcessStep& step, const ChildProcessOptions& options,
                                 Operation& op);

// The last `count` non-empty lines of `tail`, stripped, oldest first, joined by " / ";
// "no error output" when there are none.
std::string LastLines(const std::vector<std::string>& tail, size_t count);

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_CHILD_PROCESS_STEP_H_
