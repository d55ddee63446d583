// What WorkerService accepts, as worker.proto says, checked before anything runs: the rules of
// every request (agent/rpc/request_rules.h), then a backend (not BACKEND_UNSPECIFIED), a port of
// 0 or 1024-65535, a ready_timeout of 1 s to 1 day or none, a worker id of the form
// [a-z0-9][a-z0-9-]* (at most 63 characters) or none, and a model id of the catalog's form or none;
// GetWorkerLogs: a worker id, and tail_lines of at most kMaxTailLines. StopWorker: ids, all or pids
// (at least one; not ids with all), each id of the form above, each pid in 2..kMaxPid, a timeout
// of 1 s to 1 hour or none.
// A malformed field is INVALID_ARGUMENT, reason INVALID_REQUEST, metadata "field". Whether the
// model, binary, GPU and port are usable is the domain's to say (worker_manager.h), after these.
#ifndef LLORCH_AGENT_WORKERS_WORKER_REQUESTS_H_
#define LLORCH_AGENT_WORKERS_WORKER_REQUESTS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {

inline constexpr size_t kMaxWorkerIdLength = 63;
inline constexpr uint32_t kMaxTailLines = 1000000;
inline constexpr int64_t kMaxPid = 1 << 22;  // PID_MAX_LIMIT on 64-bit Linux

// [a-z0-9][a-z0-9-]*, at most kMaxWorkerIdLength characters.
bool IsWorkerId(absl::string_view id);

absl::Status Validate(const pool::v1::SpawnWorkerRequest& request);
absl::Status Validate(const pool::v1::ListWorkersRequest& request);
absl::Status Validate(const pool::v1::GetWorkerLogsRequest& request);
absl::Status Validate(const pool::v1::StopWorkerRequest& request);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_REQUESTS_H_
