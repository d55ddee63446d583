// A managed worker's state file: <state_dir>/workers/<id>.json, written atomically (temp, fsync,
// rename) and reached through directory fds that follow no symlink (common/dir_fd.h). It is the
// worker's record across agent and CLI invocations: what was started (argv, executable, the
// process's start time, so a reused PID is never taken for the worker), where it logs, and what
// became of it (ready, exit code).
#ifndef LLORCH_AGENT_WORKERS_WORKER_RECORD_H_
#define LLORCH_AGENT_WORKERS_WORKER_RECORD_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/workers/process_identity.h"
#include "common/dir_fd.h"

namespace llorch {

struct WorkerRecord {
  std::string id;
  std::string backend;  // "cpu", "cuda", "metal"
  std::string model_id;
  std::string model_path;
  uint32_t gpu = 0;
  uint32_t port = 0;
  int64_t pid = 0;
  uint64_t start_time = 0;  // of the worker process (process_identity.h)
  std::string executable;   // of the worker process as it started, then as it reported ready
  std::vector<std::string> argv;
  std::string log_path;
  int64_t created_at_ms = 0;  // unix milliseconds
  int64_t ready_at_ms = 0;    // 0 = no ready report yet
  std::string uri;            // from the ready report
  uint64_t vram_bytes = 0;
  std::optional<int> exit_code;  // once seen to exit: its code, 128+N for signal N
  int64_t exited_at_ms = 0;      // when it was seen to exit (or found lost)
  // Never became ready in time (stopped by the spawn), exited before, exited with its status
  // unknown (adopted), or restart on-failure gave up.
  bool failed = false;
  // Found gone (or its pid naming another process) by an agent that started, or by a stop.
  bool lost = false;
  int64_t stopping_at_ms = 0;  // when a stop sent its signal; 0 = no stop yet
  // It exited after a stop asked it to (exit_code, when known, says how).
  bool stopped = false;
  std::string state_reason;  // why failed or lost, when the exit code does not say it
  // Supervision (restart on-failure): "no" or "on-failure".
  std::string restart_policy = "no";
  uint32_t restarts = 0;           // restarts since the spawn
  uint32_t restart_streak = 0;     // failures in a row: the backoff's exponent
  std::vector<int64_t> starts_ms;  // recent starts (spawn and restarts), for the start limit
  int64_t restart_at_ms = 0;       // a restart is due then; 0 = none pending
};

// The identity of the process the record started. Its executable only once the worker reported
// ready: until then the program may still be exec'ing into its final image (a script starting
// `#!/usr/bin/env python3`, a wrapper that execs the worker), which keeps the pid and start time
// but not /proc/PID/exe, so only those two are compared.
ProcessIdentity RecordedIdentity(const WorkerRecord& record);

// True when `record.pid` is still the process the record started (same start time and
// executable) and has not exited (a zombie has).
bool IsRecordedProcessAlive(const WorkerRecord& record);

// True while the record says the worker runs (no exit, failure, loss or stop recorded) and its
// process still does (IsRecordedProcessAlive).
bool IsLive(const WorkerRecord& record);

class WorkerRecords {
 public:
  // Opens (creating) <state_dir>/workers, <state_dir>/logs and <state_dir>/ports.
  static absl::StatusOr<WorkerRecords> Open(const std::filesystem::path& state_dir);

  absl::Status Write(const WorkerRecord& record) const;
  // NotFound when there is no record of `id`.
  absl::StatusOr<WorkerRecord> Read(const std::string& id) const;
  // Every readable record, ordered by id (unreadable or foreign files are skipped). Each file is
  // read every time, but parsed again only when its bytes differ from the last List()'s.
  std::vector<WorkerRecord> List() const;

  const DirFd& logs() const { return logs_; }
  // <state_dir>/ports: the port holds of planned spawns (worker_ports.h).
  const DirFd& ports() const { return ports_; }

 private:
  struct Parsed;  // the records List() parsed, by file name, with the text they were parsed from

  absl::StatusOr<WorkerRecord> Parse(const std::string& id, const std::string& text) const;

  WorkerRecords(DirFd workers, DirFd logs, DirFd ports);
  DirFd workers_;
  DirFd logs_;
  DirFd ports_;
  std::shared_ptr<Parsed> parsed_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_RECORD_H_
