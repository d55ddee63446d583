// The managed workers of one host: spawning them (checks first, then the process, its log and its
// state file, then waiting for readiness) and listing them from their state files, so that
// separate invocations of the CLI see the same workers.
//
// Spawn checks, each with its own reason, before anything starts (Plan): the backend fits the host
// (metal only on macOS: BACKEND_UNSUPPORTED); its program is in PATH or at its configured path
// (WORKER_BINARY_MISSING); a CUDA GPU index is one `nvidia-smi` lists (GPU_NOT_FOUND); the model
// is in the catalog (MODEL_NOT_FOUND), downloaded (MODEL_NOT_DOWNLOADED) and verified
// (MODEL_UNVERIFIED); the id belongs to no live worker (WORKER_EXISTS); the port is free
// (PORT_IN_USE), or a default one is (NO_FREE_PORT); and, inside the CLI, that someone will
// answer the worker's ready callback (CALLBACK_UNAVAILABLE when asked not to wait).
//
// A worker is ready when its ready callback reaches the loopback listener (started with the first
// spawn) or, for backends configured so, when GET /health answers 200. A spawn that waits fails
// when the worker exits first (WORKER_EXITED, its exit code and last log lines in the message) or
// is not ready within the timeout (WORKER_NOT_READY: the worker's group is stopped); a cancelled
// one stops the worker's group too. Exits of the workers this process started are collected
// (waitpid) and recorded. While it lives, the logs of live workers are kept under the size cap
// (log_rotation.h), and a respawn keeps the previous log as <id>.log.1. Thread-safe.
#ifndef LLORCH_AGENT_WORKERS_WORKER_MANAGER_H_
#define LLORCH_AGENT_WORKERS_WORKER_MANAGER_H_

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/models/catalog.h"
#include "agent/ops/operation.h"
#include "agent/workers/log_rotation.h"
#include "agent/workers/ready_listener.h"
#include "agent/workers/worker_record.h"
#include "agent/workers/worker_settings.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {

class WorkerManager {
 public:
  // What a spawn will do, once every check passed.
  struct SpawnPlan {
    pool::v1::Backend backend = pool::v1::BACKEND_UNSPECIFIED;
    std::string id;
    std::string model_id;
    std::string model_path;
    uint32_t gpu = 0;
    int port = 0;
    std::string program;  // absolute path of the worker program
    bool wait_ready = false;
    absl::Duration ready_timeout;
  };

  WorkerManager(WorkerSettings settings, std::shared_ptr<const Catalog> catalog,
                std::filesystem::path models_dir);
  // Stops collecting exits and the callback listener; the workers keep running.
  ~WorkerManager();

  // The checks above, for a request that passed worker_requests.h.
  absl::StatusOr<SpawnPlan> Plan(const pool::v1::SpawnWorkerRequest& request);
  // Starts the worker of `plan` and, with plan.wait_ready, waits for it, reporting to `op`.
  absl::StatusOr<pool::v1::SpawnWorkerResult> Spawn(const SpawnPlan& plan, Operation& op);
  // The recorded workers ordered by id; without `include_exited` only STARTING and READY ones.
  absl::StatusOr<std::vector<pool::v1::Worker>> List(bool include_exited);

 private:
  absl::Status CheckGpu(uint32_t gpu) const;
  // The state files, opened (and their directories made) when first needed; never null after.
  absl::StatusOr<const WorkerRecords*> Records();
  // The recorded workers whose process still runs.
  absl::StatusOr<std::vector<WorkerRecord>> LiveRecords();
  absl::StatusOr<std::string> CallbackUrl();
  void OnReady(const ReadyReport& report);
  // Collects the exits of this process's workers (waitpid, no hang) and records them.
  void Reap();
  void ReapLoop();
  // Reads, changes and rewrites the record of `id` (with mu_ held).
  void UpdateRecordLocked(const std::string& id, const std::function<void(WorkerRecord&)>& change);
  // Stops the group of `pid` (the stop signal, then SIGKILL after a grace period) and reaps it.
  void StopGroup(pid_t pid, int stop_signal);
  absl::StatusOr<pool::v1::SpawnWorkerResult> WaitReady(const SpawnPlan& plan, pid_t pid,
                                                        const WorkerRecords& records,
                                                        Operation& op);

  const WorkerSettings settings_;
  const std::shared_ptr<const Catalog> catalog_;
  const std::filesystem::path models_dir_;

  std::mutex mu_;
  std::optional<WorkerRecords> records_;
  std::condition_variable changed_;           // a ready report or an exit arrived, or stopping
  std::map<std::string, ReadyReport> ready_;  // by worker id, since its spawn
  std::map<pid_t, std::string> children_;     // running workers this process started
  std::map<pid_t, int> exits_;                // their exit codes, once collected
  bool stopping_ = false;
  std::unique_ptr<ReadyListener> listener_;  // started with the first spawn that needs it
  std::unique_ptr<LogRotator> rotator_;      // keeps the live workers' logs under the size cap
  std::thread reaper_;
};

// `record` as the API shows it, its state judged now (LOST: its process is gone unseen).
pool::v1::Worker WorkerFromRecord(const WorkerRecord& record);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_MANAGER_H_
