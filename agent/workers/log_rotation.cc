#include "agent/workers/log_rotation.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>

#include "absl/strings/str_cat.h"
#include "agent/workers/worker_record.h"
#include "common/atomic_file.h"

namespace llorch {
namespace {

// <id>.log.(max_files-1) -> <id>.log.max_files, ..., <id>.log.1 -> <id>.log.2: frees
// <id>.log.1, dropping the oldest copy (renamed over). Renames move symlinks, never follow them.
absl::Status ShiftRotated(const DirFd& logs, const std::string& id, int max_files) {
  for (int n = max_files - 1; n >= 1; --n) {
    const std::string from = RotatedLogName(id, n);
    if (!logs.Stat(from)) continue;
    if (absl::Status moved = logs.Rename(from, logs, RotatedLogName(id, n + 1)); !moved.ok()) {
      return moved;
    }
  }
  return absl::OkStatus();
}

}  // namespace

LogLock::LogLock(int fd, int operation) : fd_(fd) {
  while (flock(fd_, operation) != 0 && errno == EINTR) {
  }
}

LogLock::~LogLock() { flock(fd_, LOCK_UN); }

std::string WorkerLogName(const std::string& id) { return id + ".log"; }

std::string RotatedLogName(const std::string& id, int n) {
  return absl::StrCat(WorkerLogName(id), ".", n);
}

absl::Status RotateLogForRespawn(const DirFd& logs, const std::string& id, int max_files) {
  const std::string name = WorkerLogName(id);
  if (!logs.Stat(name)) return absl::OkStatus();
  if (absl::Status shifted = ShiftRotated(logs, id, max_files); !shifted.ok()) return shifted;
  if (absl::Status moved = logs.Rename(name, logs, RotatedLogName(id, 1)); !moved.ok()) {
    return moved;
  }
  return logs.Sync();
}

absl::StatusOr<bool> RotateLogIfOver(const DirFd& logs, const std::string& id, uint64_t max_bytes,
                                     int max_files) {
  const std::string name = WorkerLogName(id);
  // Cheap first: most checks find a small log.
  std::optional<struct stat> seen = logs.Stat(name);
  if (!seen || (S_ISREG(seen->st_mode) && static_cast<uint64_t>(seen->st_size) <= max_bytes)) {
    return false;
  }
  absl::StatusOr<UniqueFd> fd = logs.OpenRegularFile(name, O_RDWR);
  if (!fd.ok()) return fd.status();
  LogLock lock(fd->get(), LOCK_EX);
  struct stat info {};
  if (fstat(fd->get(), &info) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot stat ", logs.PathOf(name).string(), ": ", std::strerror(errno)));
  }
  // Another agent may have rotated it while this one waited for the lock.
  if (static_cast<uint64_t>(info.st_size) <= max_bytes) return false;
  if (absl::Status shifted = ShiftRotated(logs, id, max_files); !shifted.ok()) return shifted;
  // The window: what the worker appends between the copy's last read and the truncation, right
  // after it (before the copy is synced), is lost.
  absl::StatusOr<uint64_t> copied =
      CopyFileAtomically(fd->get(), logs, RotatedLogName(id, 1), [&]() -> absl::Status {
        if (ftruncate(fd->get(), 0) == 0) return absl::OkStatus();
        return absl::InternalError(absl::StrCat("cannot truncate ", logs.PathOf(name).string(),
                                                ": ", std::strerror(errno)));
      });
  if (!copied.ok()) return copied.status();
  return true;
}

LogRotator::LogRotator(std::filesystem::path state_dir, uint64_t max_bytes, int max_files,
                       absl::Duration interval)
    : state_dir_(std::move(state_dir)),
      max_bytes_(max_bytes),
      max_files_(max_files),
      interval_(interval) {
  thread_ = std::thread([this] {
    std::unique_lock lock(mu_);
    while (!wake_.wait_for(lock, absl::ToChronoMilliseconds(interval_),
                           [this] { return stopping_; })) {
      lock.unlock();
      CheckAll();
      lock.lock();
    }
  });
}

LogRotator::~LogRotator() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void LogRotator::CheckAll() {
  if (!records_) {
    // Only where workers were ever recorded: the check must not create the state directory.
    absl::StatusOr<DirFd> root = DirFd::OpenRoot(state_dir_, /*create=*/false);
    if (!root.ok() || !root->Stat("workers") || !root->Stat("logs")) return;
    absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(state_dir_);
    if (!records.ok()) return;
    records_ = *std::move(records);
  }
  for (const WorkerRecord& record : records_->List()) {
    if (record.exit_code || !IsRecordedProcessAlive(record)) continue;
    absl::StatusOr<bool> rotated =
        RotateLogIfOver(records_->logs(), record.id, max_bytes_, max_files_);
    if (!rotated.ok()) {
      // Once per problem, not every second.
      std::string& said = warned_[record.id];
      if (said != rotated.status().message()) {
        said = std::string(rotated.status().message());
        spdlog::warn("cannot rotate the log of worker {}: {}", record.id, said);
      }
    } else if (*rotated) {
      spdlog::debug("rotated the log of worker {}", record.id);
    }
  }
}

}  // namespace llorch
