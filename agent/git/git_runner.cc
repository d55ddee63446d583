#include "agent/git/git_runner.h"

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {

std::string GitResult::LastError() const {
  for (auto it = err.rbegin(); it != err.rend(); ++it) {
    absl::string_view line = absl::StripAsciiWhitespace(*it);
    if (line.empty()) continue;
    for (absl::string_view prefix : {"fatal: ", "error: "}) {
      if (absl::StartsWith(line, prefix)) line.remove_prefix(prefix.size());
    }
    return std::string(line);
  }
  return "";
}

GitRunner::GitRunner(GitOptions options) : options_(std::move(options)) {
  // Values moved in as strings: assigning a string literal to a mapped string makes GCC 12 at
  // -O3 warn (-Wrestrict, a false positive) in whatever inlines it.
  options_.env.insert_or_assign("GIT_TERMINAL_PROMPT", std::string("0"));
  options_.env.insert_or_assign("LC_ALL", std::string("C"));
  options_.env.insert_or_assign("LANGUAGE", std::string());
  // ssh would ask for a passphrase or host key on the terminal of a standalone CLI; fail instead.
  if (std::getenv("GIT_SSH_COMMAND") == nullptr && !options_.env.count("GIT_SSH_COMMAND")) {
    options_.env.insert_or_assign("GIT_SSH_COMMAND", std::string("ssh -o BatchMode=yes"));
  }
}

absl::StatusOr<GitResult> GitRunner::Run(const std::filesystem::path& dir,
                                         const std::vector<std::string>& args, bool network,
                                         const GitWatch& watch) const {
  return Execute(dir, args, network, watch, /*exact=*/false);
}

absl::StatusOr<GitResult> GitRunner::Execute(const std::filesystem::path& dir,
                                             const std::vector<std::string>& args, bool network,
                                             const GitWatch& watch, bool exact) const {
  SubprocessOptions run;
  // ext:: URLs run a command; a submodule's URL comes from the checkout's .gitmodules, which
  // upstream writes. Refused whatever the host's git configuration says (git passes -c on to the
  // gits it starts, submodule clones included).
  run.argv = {options_.git, "-c", "protocol.ext.allow=never", "-C", dir.string()};
  run.argv.insert(run.argv.end(), args.begin(), args.end());
  run.env = options_.env;
  run.max_line_bytes = 1 << 20;  // porcelain lines are parsed whole
  GitResult result;
  std::vector<std::string> out_lines;
  if (exact)
    run.on_stdout_bytes = [&](absl::string_view bytes) {
      result.out.append(bytes.data(), bytes.size());
    };
  run.on_line = [&](const OutputLine& line) {
    if (line.stream == OutputLine::Stream::kStdout) {
      out_lines.emplace_back(line.text);
    } else if (watch.on_line) {
      watch.on_line(line);
    }
  };
  const absl::Time deadline =
      absl::Now() + (network ? options_.network_timeout : options_.local_timeout);
  run.should_stop = [&] {
    if (watch.cancelled && watch.cancelled()) {
      result.cancelled = true;
      return true;
    }
    if (absl::Now() >= deadline) {
      result.timed_out = true;
      return true;
    }
    return false;
  };
  absl::StatusOr<SubprocessResult> done = RunSubprocess(run);
  if (!done.ok()) {
    if (absl::IsNotFound(done.status())) {
      return WithReason(WithHint(done.status(), "install git (`apt-get install git`)"),
                        reasons::kGitMissing);
    }
    return done.status();
  }
  result.exit_code = done->exit_code;
  result.err = std::move(done->stderr_tail);
  if (!exact) result.out = absl::StrJoin(out_lines, "\n");
  return result;
}

absl::Status GitRunner::Failure(const std::filesystem::path& dir,
                                const std::vector<std::string>& args, const GitResult& result) {
  const std::string what = absl::StrCat("git ", absl::StrJoin(args, " "), " in ", dir.string());
  if (result.cancelled) return absl::CancelledError(absl::StrCat(what, " cancelled"));
  if (result.timed_out) {
    return WithHint(
        absl::DeadlineExceededError(absl::StrCat(what, " took too long and was stopped")),
        "a network operation may be stuck on an unreachable remote; try it by hand "
        "to see git's own output");
  }
  const std::string error = result.LastError();
  return absl::InternalError(absl::StrCat(what, " failed (exit ", result.exit_code, ")",
                                          error.empty() ? "" : ": ", error));
}

absl::StatusOr<std::string> GitRunner::OutputBytes(const std::filesystem::path& dir,
                                                   const std::vector<std::string>& args) const {
  absl::StatusOr<GitResult> result = Execute(dir, args, /*network=*/false, {}, /*exact=*/true);
  if (!result.ok()) return result.status();
  if (!result->ok()) return Failure(dir, args, *result);
  return std::move(result->out);
}

absl::StatusOr<std::string> GitRunner::Output(const std::filesystem::path& dir,
                                              const std::vector<std::string>& args, bool network,
                                              const GitWatch& watch) const {
  absl::StatusOr<GitResult> result = Run(dir, args, network, watch);
  if (!result.ok()) return result.status();
  if (!result->ok()) return Failure(dir, args, *result);
  return std::move(result->out);
}

}  // namespace llorch
