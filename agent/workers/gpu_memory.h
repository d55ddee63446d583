// Whether a stopped CUDA worker's GPU memory came back: nvidia-smi lists no process of it.
//
// A worker that outlives its stop keeps its GPU memory, and the next start on that GPU fails.
// After StopProcessGroup, WaitForGpuMemoryRelease asks
//   nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits
// (by argv, never a shell) until none of the worker's processes is listed or `bound` passes.
// The driver frees memory of an exited process shortly after the exit, hence the polling.
#ifndef LLORCH_AGENT_WORKERS_GPU_MEMORY_H_
#define LLORCH_AGENT_WORKERS_GPU_MEMORY_H_

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace llorch {

// One line of nvidia-smi's compute-apps query.
struct GpuProcess {
  pid_t pid = 0;
  uint64_t used_mib = 0;  // 0 when nvidia-smi says "[N/A]"
};

// The processes in nvidia-smi's output "PID, MIB" lines; other lines are skipped.
std::vector<GpuProcess> ParseComputeApps(absl::string_view output);

struct GpuMemoryCheckOptions {
  std::string nvidia_smi = "nvidia-smi";  // a path, or a name looked up in PATH
  absl::Duration bound = absl::Seconds(10);
  absl::Duration interval = absl::Milliseconds(250);
};

struct GpuMemoryCheck {
  bool released = false;
  // The processes of the worker nvidia-smi still listed at the last look.
  std::vector<GpuProcess> still_listed;
  absl::Duration bound;

  // "GPU memory released" or "GPU memory not released within 10s: pid 4242 still holds 4096 MiB".
  std::string Describe() const;
};

// Polls nvidia-smi until it lists none of `pids` (released) or `options.bound` passes (not
// released, with what it still lists). Errors when nvidia-smi cannot run (NotFound) or fails
// (Unavailable, with its exit status and last stderr line).
absl::StatusOr<GpuMemoryCheck> WaitForGpuMemoryRelease(const std::vector<pid_t>& pids,
                                                       const GpuMemoryCheckOptions& options);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_GPU_MEMORY_H_
