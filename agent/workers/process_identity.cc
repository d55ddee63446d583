#include "agent/workers/process_identity.h"

#include "absl/strings/str_cat.h"
#include "agent/workers/proc_fs.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {

std::string ProcessIdentity::Describe() const {
  return absl::StrCat("pid ", pid, " (", executable, ", started at tick ", start_time, ")");
}

absl::StatusOr<ProcessIdentity> ReadProcessIdentity(pid_t pid) {
  absl::StatusOr<ProcStat> stat = ReadProcStat(pid);
  if (!stat.ok()) return stat.status();
  absl::StatusOr<ProcExecutable> executable = ReadProcExecutable(pid);
  if (!executable.ok()) return executable.status();
  return ProcessIdentity{pid, stat->start_time, executable->path};
}

absl::StatusOr<Pidfd> OpenIdentified(const ProcessIdentity& recorded) {
  absl::StatusOr<Pidfd> pidfd = Pidfd::Open(recorded.pid);
  if (!pidfd.ok()) return pidfd.status();
  absl::StatusOr<ProcessIdentity> now = ReadProcessIdentity(recorded.pid);
  if (!now.ok()) return now.status();
  // What /proc said belongs to the pidfd's process only if that process was still alive after
  // the read: otherwise the pid may already name a newer one.
  if (pidfd->Exited()) {
    return absl::NotFoundError(absl::StrCat("process ", recorded.pid, " has exited"));
  }
  if (!now->SameProcess(recorded)) {
    return WithHint(
        WithReason(absl::FailedPreconditionError(absl::StrCat(
                       "pid ", recorded.pid, " now names another process (", now->Describe(),
                       ", not ", recorded.Describe(), "): the recorded process has exited and ",
                       "its pid was reused; nothing was signalled")),
                   reasons::kProcessReplaced),
        "the worker is gone; do not signal that pid by hand, it is not the worker");
  }
  return pidfd;
}

}  // namespace llorch
