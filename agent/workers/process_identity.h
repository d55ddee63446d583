// Which process a worker is, so that a reused pid is never mistaken for it.
//
// A pid alone is not an identity: once a worker exits, its pid may be handed to any new process,
// and a state file or a `--pid` naming it would then signal a stranger. The identity is the pid
// plus the process's start time (/proc/PID/stat field 22, which a reused pid cannot repeat)
// plus its executable (/proc/PID/exe). OpenIdentified() checks it on a pidfd opened first, so the
// process checked is the one the caller then signals or waits for.
#ifndef LLORCH_AGENT_WORKERS_PROCESS_IDENTITY_H_
#define LLORCH_AGENT_WORKERS_PROCESS_IDENTITY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/workers/pidfd.h"

namespace llorch {

struct ProcessIdentity {
  pid_t pid = 0;
  uint64_t start_time = 0;  // clock ticks after boot (/proc/PID/stat field 22)
  // The program's path, without the " (deleted)" the kernel appends once the file was removed
  // or replaced: an upgraded binary does not change which process it is.
  std::string executable;

  // Same pid and start time, and the same executable unless `recorded` leaves it empty (not
  // known yet: see RecordedIdentity() in worker_record.h).
  bool SameProcess(const ProcessIdentity& recorded) const {
    return pid == recorded.pid && start_time == recorded.start_time &&
           (recorded.executable.empty() || executable == recorded.executable);
  }
  // "pid 1234 (/usr/bin/llorch-cpu-candled, started at tick 5678)".
  std::string Describe() const;
};

// The identity of the process that has `pid` now. NotFound when there is none,
// PermissionDenied when it belongs to a user whose processes we may not inspect.
absl::StatusOr<ProcessIdentity> ReadProcessIdentity(pid_t pid);

// A pidfd on the process `recorded` names, after checking it is still that process:
//   NotFound            no process has that pid any more: it has exited
//   FailedPrecondition  (reason PROCESS_REPLACED) the pid now names another process (another
//                       start time or executable); nothing may be signalled
//   PermissionDenied    it is another user's process
absl::StatusOr<Pidfd> OpenIdentified(const ProcessIdentity& recorded);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_PROCESS_IDENTITY_H_
