// Finding worker processes nobody manages: any process in /proc whose executable is one of the
// configured worker binaries (left by a crashed agent, or started by hand), with the worker
// flags parsed from its command line.
//
// A process matches when its executable (/proc/PID/exe, " (deleted)" taken off) is the resolved
// path of a configured binary, or has the same file name as one (a copy run from a build
// directory is still a worker holding a port or a GPU). Processes that exit during the scan are
// skipped, and so are other users' processes whose executable we may not read.
#ifndef LLORCH_AGENT_WORKERS_PROCESS_SCAN_H_
#define LLORCH_AGENT_WORKERS_PROCESS_SCAN_H_

#include <sys/types.h>

#include <string>
#include <unordered_set>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/workers/process_identity.h"

namespace llorch {

// The flags of the real worker (llorch-*-candled), as found on a command line: "--flag value"
// or "--flag=value". Empty (port 0) when absent; port 0 also when not a number.
struct WorkerFlags {
  std::string worker_id;
  std::string model;
  int port = 0;
  std::string callback_url;
  std::string cuda_device;
  std::string metal_device;
};

WorkerFlags ParseWorkerFlags(const std::vector<std::string>& argv);

struct FoundWorkerProcess {
  ProcessIdentity identity;
  pid_t pgid = 0;
  std::vector<std::string> argv;
  WorkerFlags flags;
};

// The worker process that has `pid` now: NotFound when no live process has it (zombies count as
// gone), FailedPrecondition (reason NOT_A_WORKER_PROCESS) when it runs another program,
// PermissionDenied when it is another user's and cannot be inspected.
absl::StatusOr<FoundWorkerProcess> IdentifyWorkerProcess(
    pid_t pid, const std::vector<std::string>& worker_binaries);

// The live processes (zombies left out) running one of `worker_binaries` (paths or bare file
// names), by ascending pid, except the caller's own workers: `known` holds the pids of the
// workers it manages and has just identified (each leads its process group), which are skipped
// without a read of /proc, and so are the processes in their groups (children they forked).
std::vector<FoundWorkerProcess> ScanWorkerProcesses(const std::vector<std::string>& worker_binaries,
                                                    const std::unordered_set<pid_t>& known = {});

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_PROCESS_SCAN_H_
