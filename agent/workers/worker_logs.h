// Reading a worker's log for GetWorkerLogs: the last N lines (or all) of <state_dir>/logs/<id>.log,
// then, when following, new lines as the worker writes them until it exits or the caller stops.
//
// Lines are sent as the worker wrote them (its JSON lines, not parsed), without the newline (and
// a carriage return before it), bytes that are not UTF-8 replaced by U+FFFD; a line longer than
// kMaxLogLineBytes is sent in pieces of that size. A last line without a newline is sent too:
// at the end of the log when not following, once the worker has exited when following.
//
// Following continues across rotation (log_rotation.h) as `tail -F` does, without a line twice:
// when <id>.log.1 changed since the last look, the rest of the lines are read from that copy,
// then the log from its start. A reader that misses two rotations in a row (a client that does
// not read for longer than a rotation period) continues in the newest copy at its old offset
// and loses lines. A symlink at <id>.log is never followed (reason SYMLINK_REFUSED).
#ifndef LLORCH_AGENT_WORKERS_WORKER_LOGS_H_
#define LLORCH_AGENT_WORKERS_WORKER_LOGS_H_

#include <cstddef>
#include <filesystem>
#include <functional>

#include "absl/status/status.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {

inline constexpr size_t kMaxLogLineBytes = 1 << 20;

// Streams the log of worker `request.id()` recorded under `state_dir` to `write` (which returns
// false once the client is gone). NOT_FOUND, reason WORKER_NOT_FOUND, when no worker of that id
// is recorded. With follow it returns when `cancelled()` says so, or when the worker exited
// (at once when it is not running), after a last line of STREAM_AGENT saying so, with its exit
// code when the agent knows it.
absl::Status StreamWorkerLog(const std::filesystem::path& state_dir,
                             const pool::v1::GetWorkerLogsRequest& request,
                             const std::function<bool()>& cancelled,
                             const std::function<bool(const pool::v1::LogLine&)>& write);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_LOGS_H_
