// The managed workers of one host: spawning them (checks first, then the process, its log and its
// state file, then waiting for readiness) and listing them from their state files, so that
// separate invocations of the CLI see the same workers.
//
// Spawn checks, each with its own reason, before anything starts (Plan): the backend fits the host
// (metal only on macOS: BACKEND_UNSUPPORTED); its program is in PATH or at its configured path
// (WORKER_BINARY_MISSING); a CUDA GPU index is one the driver lists (GPU_NOT_FOUND); the model
// is in the catalog (MODEL_NOT_FOUND), downloaded (MODEL_NOT_DOWNLOADED) and verified
// (MODEL_UNVERIFIED); the id belongs to no live worker (WORKER_EXISTS); the port is free
// (PORT_IN_USE), or a default one is (NO_FREE_PORT); and, inside the CLI, that someone will
// answer the worker's ready callback (CALLBACK_UNAVAILABLE when asked not to wait).
//
// A worker is ready when its ready callback reaches the loopback listener (started with the first
// spawn) or, for backends configured so, when GET /health answers 200. A spawn that waits fails
// when the worker exits first (WORKER_EXITED, its exit code and last log lines in the message) or
// is not ready within the timeout (WORKER_NOT_READY: the worker's group is stopped); a cancelled
// one stops the worker's group too.
//
// Supervision: every live worker this manager started or adopted is watched by an ExitWatcher
// (a pidfd each, no polling); its exit is recorded in its state file at once (the exit code,
// 128+N for signal N, or unknown for an adopted worker, which is not our child) and published
// as an event. Restart on-failure starts a worker that exited unasked again with the same argv
// (so the same id, port and ready callback) after a capped exponential backoff, until the start
// limit. Outside the CLI (pool-agent), a manager re-adopts at its start the workers its state
// files name: a live one whose identity (pid, start time, executable) holds is watched again;
// one whose process is gone, or whose pid now names another process (never signalled), is
// recorded LOST. The destructor leaves the workers running. While it lives, the logs of live
// workers are kept under the size cap (log_rotation.h), and a respawn keeps the previous log as
// <id>.log.1 (a restart appends to the log).
//
// Stopping (worker_stop.cc; StopWorker's contract in worker.proto): every stop of a worker's
// group goes through StopProcessGroup (process_stop.h), after the identity check, so a reused pid
// is never signalled. A worker this manager watches is added to stops_ first, so restart
// on-failure leaves it be and its exit is published as KIND_STOPPED; one it does not watch (a
// worker an earlier CLI run spawned) is recorded by the stop itself, its exit code unknown.
// Listing also shows the worker processes no state file names (process_scan.h) as UNMANAGED.
// Thread-safe.
#ifndef LLORCH_AGENT_WORKERS_WORKER_MANAGER_H_
#define LLORCH_AGENT_WORKERS_WORKER_MANAGER_H_

#include <sys/types.h>

#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/models/catalog.h"
#include "agent/ops/event_bus.h"
#include "agent/ops/operation.h"
#include "agent/workers/exit_watcher.h"
#include "agent/workers/log_rotation.h"
#include "agent/workers/process_stop.h"
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
    bool restart_on_failure = false;
    // Holds `port` against spawns planned meanwhile, here or in another process (none of them
    // has bound it or written its state file yet), until the last copy of this plan is gone; by
    // then the worker's state file names the port (TryHoldPort in worker_ports.h).
    std::shared_ptr<const void> port_hold;
  };

  // Worker changes are published to `events` (none when null).
  WorkerManager(WorkerSettings settings, std::shared_ptr<const Catalog> catalog,
                std::filesystem::path models_dir, std::shared_ptr<EventBus> events);
  // Stops watching exits, restarting and the callback listener; the workers keep running.
  ~WorkerManager();

  // The checks above, for a request that passed worker_requests.h.
  absl::StatusOr<SpawnPlan> Plan(const pool::v1::SpawnWorkerRequest& request);
  // Starts the worker of `plan` and, with plan.wait_ready, waits for it, reporting to `op`.
  absl::StatusOr<pool::v1::SpawnWorkerResult> Spawn(const SpawnPlan& plan, Operation& op);
  // The recorded workers ordered by id (without `include_exited` only STARTING, READY and
  // STOPPING ones), then the UNMANAGED worker processes by pid.
  absl::StatusOr<std::vector<pool::v1::Worker>> List(bool include_exited);
  // NotFound (WORKER_NOT_FOUND) for the first id of a request (worker_requests.h) that no state
  // file records: StopWorker's check before its operation starts.
  absl::Status CheckStopTargets(const pool::v1::StopWorkerRequest& request);
  // Stops the targets of a checked request, reporting each to `op` (worker_stop.cc).
  absl::StatusOr<pool::v1::StopWorkerResult> Stop(const pool::v1::StopWorkerRequest& request,
                                                  Operation& op);
  // FailedPrecondition (MODEL_IN_USE, naming the workers) while a live worker serves `model`'s
  // file: what DeleteModel asks before it removes anything.
  absl::Status CheckModelUnused(const CatalogModel& model);
  // The ready-callback listener's port; nullopt until a spawn that needs it has started it.
  std::optional<int> CallbackListenerPort();

 private:
  absl::Status CheckGpu(uint32_t gpu) const;
  // The state files, opened (and their directories made) when first needed; never null after.
  absl::StatusOr<const WorkerRecords*> Records();
  // The recorded workers whose process still runs.
  absl::StatusOr<std::vector<WorkerRecord>> LiveRecords();
  absl::StatusOr<std::string> CallbackUrl();
  void OnReady(const ReadyReport& report);
  // The watcher saw `pid` exit: records it, publishes it, and schedules a restart or gives up.
  void OnExit(pid_t pid, std::optional<int> exit_code);
  // What restart on-failure does after `record` exited: sets its restart_at_ms (a
  // KIND_RESTARTING change), or gives up at the start limit (KIND_GAVE_UP).
  pool::v1::WorkerChange PlanRestart(WorkerRecord& record) const;
  // Starts the worker `id` again if its restart is still due.
  void Restart(const std::string& id);
  // Runs the restarts when they are due, and probes the /health of the workers in probing_,
  // until stopping_.
  void SuperviseLoop();
  // One GET /health of each worker in probing_; the ready ones are reported to OnReady.
  void ProbeStarting();
  // Whether `record`'s backend learns readiness from GET /health (not the callback).
  bool ReadyByHealth(const WorkerRecord& record) const;
  // Pool-agent's start: watches the live recorded workers again, records the gone ones LOST.
  void Adopt();
  // Watches `pid` (worker `id`) for its exit (with mu_ held).
  void WatchLocked(pid_t pid, const std::string& id, bool child);
  // Publishes a change of `record` (with mu_ held, after the record was written: events of one
  // worker keep their order, and a reader of the event finds the state file saying as much).
  void PublishLocked(pool::v1::WorkerChange::Kind kind, const WorkerRecord& record,
                     uint32_t attempt = 0, const std::string& reason = "");
  void PublishLocked(pool::v1::WorkerChange change);
  // Reads the record of `id`, lets `change` change it, and rewrites it when `change` returns true
  // (with mu_ held). The record written, or nullopt when nothing was.
  std::optional<WorkerRecord> UpdateRecordLocked(const std::string& id,
                                                 const std::function<bool(WorkerRecord&)>& change);
  // Stops the group of `record`'s process with StopProcessGroup (its backend's stop signal, then
  // SIGKILL after `grace`). A watched worker is added to stops_ first, and its exit code, once
  // the watcher has seen the exit, is the outcome's; *watched says whether it was watched.
  absl::StatusOr<StopOutcome> StopWorkerGroup(const WorkerRecord& record, absl::Duration grace,
                                              bool* watched);
  // worker_stop.cc: one target of a stop each.
  pool::v1::WorkerStopOutcome StopRecorded(const std::string& id, absl::Duration grace);
  pool::v1::WorkerStopOutcome StopPid(pid_t pid, absl::Duration grace);
  // Records the end of `record`'s stop that the watcher did not see (with mu_ held).
  std::optional<WorkerRecord> RecordUnwatchedStopLocked(const WorkerRecord& record,
                                                        const StopOutcome& outcome);
  // For a stopped CUDA worker: whether nvidia-smi still lists `pids`.
  pool::v1::GpuMemoryRelease CheckGpuRelease(std::vector<pid_t> pids) const;
  // The configured worker programs of `backend` (all backends: BACKEND_UNSPECIFIED), resolved
  // in the agent's PATH where they are found.
  std::vector<std::string> WorkerBinaries(pool::v1::Backend backend) const;
  int StopSignalOf(const std::string& backend) const;
  // The live worker processes none of the `running` records names (nor its group), as UNMANAGED
  // workers.
  std::vector<pool::v1::Worker> ListUnmanaged(
      const std::vector<const WorkerRecord*>& running) const;
  absl::StatusOr<pool::v1::SpawnWorkerResult> WaitReady(const SpawnPlan& plan, pid_t pid,
                                                        const WorkerRecords& records,
                                                        Operation& op);

  const WorkerSettings settings_;
  const std::shared_ptr<const Catalog> catalog_;
  const std::filesystem::path models_dir_;
  const std::shared_ptr<EventBus> events_;

  std::mutex mu_;
  std::optional<WorkerRecords> records_;
  // A ready report, an exit or a restart to queue arrived, or stopping.
  std::condition_variable changed_;
  std::map<std::string, ReadyReport> ready_;  // by worker id, since its spawn
  std::map<pid_t, std::string> watched_;      // running workers whose exit the watcher reports
  std::map<pid_t, int> exits_;                // their exit codes once exited (-1: unknown)
  std::set<std::string> spawning_;            // ids whose spawn waits: an exit fails the spawn
  std::set<pid_t> stops_;                     // workers asked to exit by a stop
  std::set<std::string> stopping_ids_;        // ids a stop works on: a second stop waits
  std::map<std::string, absl::Time> restarts_due_;  // restart on-failure: id -> when
  // Starting workers of a `ready = "health"` backend that no spawn waits for (spawned without
  // waiting, restarted, adopted): the supervisor probes their /health.
  std::set<std::string> probing_;
  bool stopping_ = false;
  std::unique_ptr<ReadyListener> listener_;  // started with the first spawn that needs it
  std::unique_ptr<LogRotator> rotator_;      // keeps the live workers' logs under the size cap
  std::unique_ptr<ExitWatcher> watcher_;     // null only if it could not start
  std::thread supervisor_;                   // runs SuperviseLoop()
};

// `record` as the API shows it, its state judged now (LOST: its process is gone unseen).
pool::v1::Worker WorkerFromRecord(const WorkerRecord& record);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_MANAGER_H_
