// Size-capped worker logs: <state_dir>/logs/<id>.log, with up to N rotated copies beside it,
// <id>.log.1 (the newest) to <id>.log.N, as the kubelet keeps container logs
// (containerLogMaxSize, containerLogMaxFiles).
//
// A worker writes its log through the fd it was started with (O_APPEND) and keeps running when
// the agent stops, so it can never be told to reopen its log. A live worker's log is therefore
// rotated by copy-then-truncate (logrotate's copytruncate): the log is copied to <id>.log.1
// (atomically: temp file, fsync, rename), then truncated to 0, and the worker's next write lands
// at the new end. Lines the worker writes between the end of the copy and the truncation (a few
// microseconds: the copy reads until it finds the end) are lost; nothing else is.
// FALLOC_FL_COLLAPSE_RANGE would avoid that window on ext4 and XFS only, and only for a
// block-aligned head, so the line cut at the block boundary would be split between two files:
// not worth it. A respawn moves the previous worker's log to <id>.log.1 by rename, so the log
// of a crash survives one respawn.
//
// Every name is reached through the logs DirFd (no symlink followed): a symlink planted at
// <id>.log is neither read, copied nor truncated, and rotated copies replace whatever is at
// their names (a symlink there is replaced, never written through). Rotation holds an
// exclusive flock(2) on the log while it shifts, copies and truncates; a reader that holds a
// shared one (worker_logs.h) never sees a rotation half done, and two agents (standalone CLIs)
// never rotate the same log at once.
#ifndef LLORCH_AGENT_WORKERS_LOG_ROTATION_H_
#define LLORCH_AGENT_WORKERS_LOG_ROTATION_H_

#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/workers/worker_record.h"
#include "common/dir_fd.h"

namespace llorch {

// "<id>.log", and "<id>.log.<n>" for the n-th rotated copy (n >= 1).
std::string WorkerLogName(const std::string& id);
std::string RotatedLogName(const std::string& id, int n);

// Holds flock(2) `operation` (LOCK_EX to rotate, LOCK_SH to read) on the open log `fd`.
class LogLock {
 public:
  LogLock(int fd, int operation);
  ~LogLock();
  LogLock(const LogLock&) = delete;
  LogLock& operator=(const LogLock&) = delete;

 private:
  int fd_;
};

// Before a new worker of `id` starts: its previous log, if any, becomes <id>.log.1 (older copies
// shift up, the one beyond `max_files` goes).
absl::Status RotateLogForRespawn(const DirFd& logs, const std::string& id, int max_files);

// When <id>.log is bigger than `max_bytes`: copies it to <id>.log.1 (older copies shift up, the
// one beyond `max_files` goes) and truncates it. True when it rotated. A missing log is no
// rotation; a symlink or non-regular file there is refused (reason SYMLINK_REFUSED for a link).
absl::StatusOr<bool> RotateLogIfOver(const DirFd& logs, const std::string& id, uint64_t max_bytes,
                                     int max_files);

// Checks the log of every live worker recorded under `state_dir` once per `interval` and
// rotates the ones over the size (RotateLogIfOver), until destroyed. Nothing is created: while
// there is no state directory there is nothing to do.
class LogRotator {
 public:
  LogRotator(std::filesystem::path state_dir, uint64_t max_bytes, int max_files,
             absl::Duration interval = absl::Seconds(1));
  ~LogRotator();
  LogRotator(const LogRotator&) = delete;
  LogRotator& operator=(const LogRotator&) = delete;

 private:
  void CheckAll();  // on the thread only

  const std::filesystem::path state_dir_;
  const uint64_t max_bytes_;
  const int max_files_;
  const absl::Duration interval_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::map<std::string, std::string> warned_;  // by worker id: the last rotation error logged
  // Opened once there are records (so List() parses only the state files that changed).
  std::optional<WorkerRecords> records_;
  std::thread thread_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_LOG_ROTATION_H_
