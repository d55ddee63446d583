#include "agent/workers/process_stop.h"

#include <signal.h>
#include <string.h>

#include <cerrno>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/workers/proc_fs.h"

namespace llorch {
namespace {

std::vector<pid_t> Pids(const std::vector<ProcStat>& processes) {
  std::vector<pid_t> pids;
  for (const ProcStat& process : processes) pids.push_back(process.pid);
  return pids;
}

absl::Duration Left(absl::Time deadline) {
  return std::max(absl::ZeroDuration(), deadline - absl::Now());
}

// Sends `signal` to group `pgid`. Only while its leader lives: that pins the group id.
absl::Status SignalGroup(pid_t pgid, int signal) {
  if (kill(-pgid, signal) == 0 || errno == ESRCH) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "cannot send ", SignalName(signal), " to process group ", pgid, ": ", strerror(errno)));
}

// Waits until the leader has exited and no other process of `pgid` is left, or `deadline`
// passes; returns what is left.
std::vector<ProcStat> WaitForGroupGone(pid_t pgid, const Pidfd& leader, absl::Time deadline) {
  leader.WaitForExit(Left(deadline));
  while (true) {
    std::vector<ProcStat> left = ListGroupMembers(pgid);
    if (left.empty() || absl::Now() >= deadline) return left;
    absl::StatusOr<Pidfd> member = Pidfd::Open(left.front().pid);
    if (member.ok()) member->WaitForExit(Left(deadline));
  }
}

// SIGKILLs what is left of group `pgid` until nothing is, or `deadline` passes; returns what is
// left. While the leader lives the group is signalled as one (no member can fork past it); after,
// each member through its own pidfd, once /proc shows that the pidfd's process is the member
// listed (same group and start time, still alive), since the group id no longer pins anything.
std::vector<ProcStat> KillGroup(pid_t pgid, const Pidfd& leader, absl::Time deadline) {
  while (true) {
    std::vector<ProcStat> left = ListGroupMembers(pgid);
    if (left.empty() || absl::Now() >= deadline) return left;
    if (!leader.Exited()) {
      if (!SignalGroup(pgid, SIGKILL).ok()) return left;
      leader.WaitForExit(Left(deadline));
      continue;
    }
    std::vector<Pidfd> killed;
    for (const ProcStat& member : left) {
      absl::StatusOr<Pidfd> pidfd = Pidfd::Open(member.pid);
      if (!pidfd.ok()) continue;
      absl::StatusOr<ProcStat> now = ReadProcStat(member.pid);
      if (!now.ok() || now->pgrp != pgid || now->start_time != member.start_time ||
          pidfd->Exited()) {
        continue;
      }
      if (pidfd->Signal(SIGKILL).ok()) killed.push_back(std::move(*pidfd));
    }
    if (killed.empty()) return ListGroupMembers(pgid);
    for (const Pidfd& pidfd : killed) pidfd.WaitForExit(Left(deadline));
  }
}

std::string PidList(const std::vector<pid_t>& pids) {
  return absl::StrCat(pids.size() == 1 ? "pid " : "pids ", absl::StrJoin(pids, ", "));
}

}  // namespace

std::string SignalName(int signal) {
  const char* abbreviation = sigabbrev_np(signal);
  return abbreviation != nullptr ? absl::StrCat("SIG", abbreviation) : absl::StrCat(signal);
}

std::string StopOutcome::Describe() const {
  std::string text;
  switch (ending) {
    case Ending::kAlreadyExited:
      text = "had already exited";
      break;
    case Ending::kExitedOnStopSignal:
      // "0.4s", or "12ms" under a tenth of a second (never "0").
      text = absl::StrCat("exited on ", SignalName(stop_signal), " after ",
                          absl::FormatDuration(waited < absl::Milliseconds(100)
                                                   ? absl::Ceil(waited, absl::Milliseconds(1))
                                                   : absl::Trunc(waited, absl::Milliseconds(100))));
      break;
    case Ending::kKilled:
      text = absl::StrCat("did not exit within ", absl::FormatDuration(grace), " of ",
                          SignalName(stop_signal), "; killed with SIGKILL");
      break;
  }
  if (exit_code.has_value()) absl::StrAppend(&text, " (exit code ", *exit_code, ")");
  if (!killed_others.empty()) {
    absl::StrAppend(&text, "; ", PidList(killed_others), " of its process group outlived ",
                    SignalName(stop_signal), " and were killed with SIGKILL");
  }
  if (!remaining.empty()) {
    absl::StrAppend(&text, "; still running in its process group: ", PidList(remaining));
  }
  return text;
}

absl::StatusOr<StopOutcome> StopProcessGroup(const ProcessIdentity& leader, pid_t pgid,
                                             const StopOptions& options) {
  StopOutcome outcome;
  outcome.stop_signal = options.stop_signal;
  outcome.grace = options.grace;

  absl::StatusOr<Pidfd> pidfd = OpenIdentified(leader);
  if (absl::IsNotFound(pidfd.status())) {
    if (options.reap) {
      absl::StatusOr<Pidfd> zombie = Pidfd::Open(leader.pid);
      if (zombie.ok()) outcome.exit_code = zombie->Reap();
    }
    outcome.remaining = Pids(ListGroupMembers(pgid));
    return outcome;
  }
  if (!pidfd.ok()) return pidfd.status();
  absl::StatusOr<ProcStat> stat = ReadProcStat(leader.pid);
  if (stat.ok() && !pidfd->Exited() && stat->pgrp != pgid) {
    return absl::FailedPreconditionError(absl::StrCat(leader.Describe(), " left its process group ",
                                                      pgid, " (now in ", stat->pgrp,
                                                      "); nothing was signalled"));
  }

  outcome.members = Pids(ListGroupMembers(pgid));
  const absl::Time start = absl::Now();
  if (absl::Status sent = SignalGroup(pgid, options.stop_signal); !sent.ok()) return sent;
  const bool leader_exited = pidfd->WaitForExit(options.grace);
  outcome.waited = absl::Now() - start;
  outcome.ending =
      leader_exited ? StopOutcome::Ending::kExitedOnStopSignal : StopOutcome::Ending::kKilled;
  std::vector<ProcStat> left = WaitForGroupGone(pgid, *pidfd, start + options.grace);
  for (const ProcStat& process : left) {
    if (process.pid != leader.pid) outcome.killed_others.push_back(process.pid);
  }
  if (!left.empty()) {
    outcome.remaining = Pids(KillGroup(pgid, *pidfd, absl::Now() + options.kill_wait));
  }
  if (options.reap) outcome.exit_code = pidfd->Reap();
  return outcome;
}

absl::StatusOr<StopOutcome> StopProcess(const ProcessIdentity& process,
                                        const StopOptions& options) {
  StopOutcome outcome;
  outcome.stop_signal = options.stop_signal;
  outcome.grace = options.grace;
  absl::StatusOr<Pidfd> pidfd = OpenIdentified(process);
  if (absl::IsNotFound(pidfd.status())) return outcome;
  if (!pidfd.ok()) return pidfd.status();
  outcome.members = {process.pid};
  const absl::Time start = absl::Now();
  if (absl::Status sent = pidfd->Signal(options.stop_signal);
      !sent.ok() && !absl::IsNotFound(sent)) {
    return sent;
  }
  const bool exited = pidfd->WaitForExit(options.grace);
  outcome.waited = absl::Now() - start;
  outcome.ending = exited ? StopOutcome::Ending::kExitedOnStopSignal : StopOutcome::Ending::kKilled;
  if (!exited) {
    (void)pidfd->Signal(SIGKILL);
    if (!pidfd->WaitForExit(options.kill_wait)) outcome.remaining = {process.pid};
  }
  if (options.reap) outcome.exit_code = pidfd->Reap();
  return outcome;
}

}  // namespace llorch
