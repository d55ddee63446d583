#include "agent/ops/child_process_step.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/ops/child_output_log.h"
#include "common/status.h"

namespace llorch {
namespace v1 = pool::v1;

absl::StatusOr<std::string> FindProgram(const std::string& program, absl::string_view config_key,
                                        const ChildProcessOptions& options) {
  SubprocessOptions run;
  run.env = options.env;
  const std::string path = EffectivePath(run);
  if (std::optional<std::string> found = FindExecutable(program, path)) return *found;
  return absl::NotFoundError(
      program.find('/') != std::string::npos
          ? absl::StrCat(program, " (", config_key, ") is not an executable file")
          : absl::StrCat("`", program, "` was not found in PATH (", path, ")"));
}

std::string LastLines(const std::vector<std::string>& tail, size_t count) {
  std::vector<absl::string_view> last;
  for (auto it = tail.rbegin(); it != tail.rend() && last.size() < count; ++it) {
    absl::string_view line = absl::StripAsciiWhitespace(*it);
    if (!line.empty()) last.insert(last.begin(), line);
  }
  return last.empty() ? "no error output" : absl::StrJoin(last, " / ");
}

absl::Status RunChildProcessStep(const ChildProcessStep& step, const ChildProcessOptions& options,
                                 Operation& op) {
  SubprocessOptions run;
  run.argv = step.argv;
  run.env = options.env;
  run.working_dir = step.working_dir;
  run.poll_interval = options.poll_interval;
  run.kill_grace = options.kill_grace;
  ChildOutputLog log(op);
  run.on_line = [&log](const OutputLine& line) { log(line); };
  run.on_tick = step.on_tick;
  run.should_stop = [&op] { return op.cancel_requested(); };
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrJoin(run.argv, " "));
  absl::StatusOr<SubprocessResult> result = RunSubprocess(run);
  if (!result.ok()) return result.status();
  if (result->stopped) return absl::CancelledError(absl::StrCat(step.work, " cancelled"));
  if (result->succeeded()) return absl::OkStatus();
  const std::string error =
      step.error_line ? step.error_line(result->stderr_tail) : LastLines(result->stderr_tail, 3);
  absl::Status failure = WithHint(
      absl::AbortedError(absl::StrCat(step.name, " failed (", result->Describe(), "): ", error)),
      absl::StrCat("the whole output is in the operation's log (`llorch-pool ops watch ", op.id(),
                   "`)"));
  return step.explain_failure ? step.explain_failure(*result, std::move(failure)) : failure;
}

}  // namespace llorch
