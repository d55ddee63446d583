#include "common/probe.h"

#include <optional>

#include "absl/strings/str_cat.h"
#include "common/subprocess.h"

namespace llorch {

constexpr size_t kMaxProbeLines = 256;

std::string ProbeResult::Failure(absl::Duration timeout) const {
  if (!found) return "not found";
  if (timed_out) {
    return absl::StrCat("did not answer within ", absl::FormatDuration(timeout),
                        " and was stopped");
  }
  if (!start_error.empty()) return absl::StrCat("cannot start it: ", start_error);
  std::string why = absl::StrCat("exit ", exit_code);
  const std::vector<std::string>& said = err.empty() ? out : err;
  for (auto line = said.rbegin(); line != said.rend(); ++line) {
    if (!line->empty()) return absl::StrCat(why, ": ", *line);
  }
  return why;
}

std::string FindProgram(const std::string& program) {
  std::optional<std::string> found = FindExecutable(program, EffectivePath(SubprocessOptions()));
  return found ? *found : "";
}

ProbeResult Probe(const std::vector<std::string>& argv, absl::Duration timeout,
                  const std::optional<std::string>& path_env) {
  ProbeResult probe;
  probe.program =
      path_env ? FindExecutable(argv.front(), *path_env).value_or("") : FindProgram(argv.front());
  probe.found = !probe.program.empty();
  if (!probe.found) return probe;
  SubprocessOptions run;
  run.argv = argv;
  run.argv.front() = probe.program;
  run.env = {{"LC_ALL", "C"}};
  run.on_line = [&probe](const OutputLine& line) {
    if (line.stream == OutputLine::Stream::kStdout && probe.out.size() < kMaxProbeLines) {
      probe.out.emplace_back(line.text);
    }
  };
  const absl::Time deadline = absl::Now() + timeout;
  run.should_stop = [deadline] { return absl::Now() >= deadline; };
  run.poll_interval = absl::Milliseconds(10);
  run.kill_grace = absl::Seconds(1);
  run.tail_lines = 5;
  absl::StatusOr<SubprocessResult> result = RunSubprocess(run);
  if (!result.ok()) {
    probe.start_error = std::string(result.status().message());
    return probe;
  }
  probe.timed_out = result->stopped;
  probe.exit_code = result->exit_code;
  probe.err = result->stderr_tail;
  return probe;
}

}  // namespace llorch
