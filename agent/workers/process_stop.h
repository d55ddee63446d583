// Stopping a worker: its whole process group, and only if the recorded process is still the one
// running (process_identity.h).
//
//   StopOptions options;  // SIGINT, 10 s grace
//   absl::StatusOr<StopOutcome> outcome = StopProcessGroup(recorded, recorded_pgid, options);
//   if (outcome.ok()) Log(outcome->Describe());  // "exited on SIGINT after 1.2s (exit code 0)"
//
// Order: open a pidfd on the recorded leader and check its identity and group (refused, with
// nothing signalled, when the pid now names another process or another group); send the stop
// signal to the group (the live leader pins the group id, so it names no other group); wait
// for the group to be gone, by poll(2) on pidfds, up to the grace period; SIGKILL whatever of the
// group is left (through the group while the leader lives, else through each member's pidfd
// after checking it is the member listed), and wait for that too. A child the worker forked
// into its group that ignores the stop signal is therefore killed, and the outcome says so.
#ifndef LLORCH_AGENT_WORKERS_PROCESS_STOP_H_
#define LLORCH_AGENT_WORKERS_PROCESS_STOP_H_

#include <sys/types.h>

#include <csignal>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/workers/process_identity.h"

namespace llorch {

struct StopOptions {
  int stop_signal = SIGINT;  // llorch-candled shuts down gracefully only on SIGINT
  absl::Duration grace = absl::Seconds(10);
  // The bound on waiting after SIGKILL: a process in uninterruptible sleep (a GPU driver call)
  // dies only when that call returns.
  absl::Duration kill_wait = absl::Seconds(10);
  // The leader is the caller's child and nobody else reaps it: reap it here and report its
  // exit status. A supervisor that reaps its children itself leaves this false.
  bool reap = false;
};

struct StopOutcome {
  enum class Ending {
    kAlreadyExited,       // the leader had exited before anything was sent
    kExitedOnStopSignal,  // the leader exited within the grace period
    kKilled,              // the leader outlived the grace period and was killed with SIGKILL
  };
  Ending ending = Ending::kAlreadyExited;
  int stop_signal = SIGINT;
  absl::Duration grace;
  absl::Duration waited;  // from the stop signal to the leader's exit
  // The leader's exit status (128 + signal when killed by one) when it was reaped here.
  std::optional<int> exit_code;
  // The processes of the group when the stop signal was sent: the ones whose GPU
  // memory must come back (gpu_memory.h).
  std::vector<pid_t> members;
  // Processes of the group other than the leader that outlived the grace period and were killed.
  std::vector<pid_t> killed_others;
  // Processes of the group still there at the end (stuck in the kernel even after SIGKILL, or
  // another user's). Empty when the group is gone.
  std::vector<pid_t> remaining;

  // One line for the user: "exited on SIGINT after 0.4s (exit code 0)", "did not exit within
  // 10s of SIGINT; killed with SIGKILL", plus what happened to the rest of the group.
  std::string Describe() const;
};

// Stops `leader` (recorded earlier) and its process group `pgid` as the header comment says.
// Errors, with nothing signalled: FailedPrecondition PROCESS_REPLACED when the pid now names
// another process, FailedPrecondition when the leader is no longer in group `pgid`,
// PermissionDenied for another user's process. A leader that has already exited is no error:
// the outcome says so (and lists what is left of its group, which is not signalled: without a
// live leader nothing proves the group id still names the worker's group).
absl::StatusOr<StopOutcome> StopProcessGroup(const ProcessIdentity& leader, pid_t pgid,
                                             const StopOptions& options);

// Stops `process` alone, not its group, with the same identity check and escalation: for a
// process that is not its group's leader (the group may be a script's or a shell's). The outcome
// lists it as the only member; killed_others stays empty. Errors as StopProcessGroup's.
absl::StatusOr<StopOutcome> StopProcess(const ProcessIdentity& process, const StopOptions& options);

// "SIGINT" for SIGINT.
std::string SignalName(int signal);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_PROCESS_STOP_H_
