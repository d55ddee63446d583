// Starting a worker process: by argv (never a shell), in a session and process group of its own
// (so that it outlives the agent's and the terminal's signals, and so that stopping its group
// reaches every process it started), stdin from /dev/null, stdout and stderr appended to its log
// file, default signal dispositions and an empty signal mask, the agent's environment with
// CUDA_DEVICE_ORDER=PCI_BUS_ID (so that CUDA's device N is the GPU nvidia-smi lists as N).
#ifndef LLORCH_AGENT_WORKERS_WORKER_LAUNCH_H_
#define LLORCH_AGENT_WORKERS_WORKER_LAUNCH_H_

#include <sys/types.h>

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/dir_fd.h"

namespace llorch {

// Starts argv[0] (an absolute path) with `argv`, output to `log_fd`. Returns its pid (also its
// process group and session id). Internal when it cannot be started.
absl::StatusOr<pid_t> LaunchWorkerProcess(const std::vector<std::string>& argv, int log_fd);

// A wait status as an exit code: the exit status, or 128+N when killed by signal N (the shell's
// convention, which Worker.exit_code promises).
int ExitCodeOf(int wait_status);

// The last `count` lines of the file `name` in `dir` (at most its last 64 KiB are read); empty
// when it cannot be read.
std::vector<std::string> LastLines(const DirFd& dir, const std::string& name, size_t count);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_LAUNCH_H_
