#include "agent/workers/worker_logs.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "agent/workers/log_rotation.h"
#include "agent/workers/pidfd.h"
#include "agent/workers/proc_fs.h"
#include "agent/workers/worker_record.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/strings.h"
#include "google/protobuf/util/time_util.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

constexpr absl::Duration kFollowInterval = absl::Milliseconds(100);
// Read under the shared lock per step, so that a slow client never holds up a rotation.
constexpr size_t kMaxStepBytes = 4 << 20;

v1::LogLine LineOf(v1::LogLine::Stream stream, absl::string_view text) {
  v1::LogLine line;
  *line.mutable_time() = google::protobuf::util::TimeUtil::GetCurrentTime();
  line.set_stream(stream);
  line.set_text(ToValidUtf8(text));
  return line;
}

// Up to `max` bytes of `fd` from `*offset`, which moves past them.
std::string ReadFrom(int fd, off_t* offset, size_t max) {
  std::string data;
  std::string buffer(256 << 10, '\0');
  while (data.size() < max) {
    const ssize_t n = pread(fd, buffer.data(), std::min(buffer.size(), max - data.size()), *offset);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.append(buffer.data(), static_cast<size_t>(n));
    *offset += n;
  }
  return data;
}

// Where the last `count` lines of the file `fd` of `size` bytes start (0 = all of them); a last
// line without a newline counts.
off_t TailStart(int fd, off_t size, uint32_t count) {
  if (count == 0) return 0;
  uint32_t seen = 0;
  std::string block(64 << 10, '\0');
  off_t end = size;
  while (end > 0) {
    const off_t start = std::max<off_t>(0, end - static_cast<off_t>(block.size()));
    const ssize_t n = pread(fd, block.data(), static_cast<size_t>(end - start), start);
    if (n <= 0) return 0;
    for (off_t i = n - 1; i >= 0; --i) {
      const off_t at = start + i;
      if (block[static_cast<size_t>(i)] != '\n' || at == size - 1) continue;
      if (++seen == count) return at + 1;
    }
    end = start;
  }
  return 0;
}

// One worker's log, read on as it grows and is rotated.
class LogReader {
 public:
  LogReader(const DirFd& logs, std::string id, UniqueFd fd)
      : logs_(logs), id_(std::move(id)), fd_(std::move(fd)) {
    struct stat info {};
    if (fstat(fd_.get(), &info) == 0) own_inode_ = info.st_ino;
    rotated_inode_ = RotatedInode();
  }

  void SeekToTail(uint32_t lines) {
    LogLock lock(fd_.get(), LOCK_SH);
    struct stat info {};
    if (fstat(fd_.get(), &info) == 0) offset_ = TailStart(fd_.get(), info.st_size, lines);
  }

  // Sends the complete lines written since the last call; false once the client is gone.
  bool ReadOn(const std::function<bool(const v1::LogLine&)>& write) {
    while (true) {
      std::string data;
      {
        LogLock lock(fd_.get(), LOCK_SH);
        data = CatchUpWithRotation();
        data += ReadFrom(fd_.get(), &offset_, kMaxStepBytes - std::min(data.size(), kMaxStepBytes));
      }
      if (data.empty()) return true;
      if (!SendLines(data, write)) return false;
    }
  }

  // Sends a last line that has no newline.
  bool Flush(const std::function<bool(const v1::LogLine&)>& write) {
    if (pending_.empty()) return true;
    const bool sent = write(LineOf(v1::LogLine::STREAM_STDOUT, pending_));
    pending_.clear();
    return sent;
  }

 private:
  ino_t RotatedInode() const {
    std::optional<struct stat> info = logs_.Stat(RotatedLogName(id_, 1));
    return info ? info->st_ino : 0;
  }

  // With the shared lock held: when the log was rotated since the last look, what it had
  // beyond `offset_` (now in <id>.log.1), and the log is read on from its start.
  std::string CatchUpWithRotation() {
    const ino_t rotated = RotatedInode();
    if (rotated != rotated_inode_) {
      rotated_inode_ = rotated;
      // Renamed to .log.1 itself (a respawn): this file goes on as it is.
      if (rotated == own_inode_) return "";
      std::string rest;
      if (absl::StatusOr<UniqueFd> copy = logs_.OpenRegularFile(RotatedLogName(id_, 1));
          copy.ok()) {
        rest = ReadFrom(copy->get(), &offset_, kMaxStepBytes);
      }
      offset_ = 0;
      return rest;
    }
    struct stat info {};
    if (fstat(fd_.get(), &info) == 0 && info.st_size < offset_) offset_ = 0;  // truncated
    return "";
  }

  bool SendLines(absl::string_view data, const std::function<bool(const v1::LogLine&)>& write) {
    while (!data.empty()) {
      const size_t newline = data.find('\n');
      const size_t take = newline == absl::string_view::npos ? data.size() : newline;
      pending_.append(data.data(), take);
      data.remove_prefix(std::min(data.size(), take + 1));
      if (newline != absl::string_view::npos) {
        if (!pending_.empty() && pending_.back() == '\r') pending_.pop_back();
        const bool sent = write(LineOf(v1::LogLine::STREAM_STDOUT, pending_));
        pending_.clear();
        if (!sent) return false;
      }
      while (pending_.size() >= kMaxLogLineBytes) {
        if (!write(LineOf(v1::LogLine::STREAM_STDOUT,
                          absl::string_view(pending_).substr(0, kMaxLogLineBytes)))) {
          return false;
        }
        pending_.erase(0, kMaxLogLineBytes);
      }
    }
    return true;
  }

  const DirFd& logs_;
  const std::string id_;
  UniqueFd fd_;
  ino_t own_inode_ = 0;
  ino_t rotated_inode_ = 0;
  off_t offset_ = 0;
  std::string pending_;  // the start of a line whose newline is yet to come
};

// The exit code of the worker `record` once it exited, when this process knows it: from the
// kernel while this process is its parent, else from its record (where the process that reaped
// it wrote it).
std::optional<int> ExitCodeOf(const WorkerRecords& records, const WorkerRecord& record,
                              bool our_child) {
  if (our_child) {
    siginfo_t info{};
    if (waitid(P_PID, static_cast<id_t>(record.pid), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
        info.si_pid == record.pid) {
      return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
  }
  // Reaped meanwhile by this process's supervision, which records it right after.
  for (int attempt = 0; attempt < (our_child ? 20 : 1); ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    absl::StatusOr<WorkerRecord> now = records.Read(record.id);
    if (now.ok() && now->pid == record.pid && now->exit_code) return now->exit_code;
  }
  return std::nullopt;
}

}  // namespace

absl::Status StreamWorkerLog(const std::filesystem::path& state_dir,
                             const v1::GetWorkerLogsRequest& request,
                             const std::function<bool()>& cancelled,
                             const std::function<bool(const v1::LogLine&)>& write) {
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(state_dir);
  if (!records.ok()) return records.status();
  absl::StatusOr<WorkerRecord> record = records->Read(request.id());
  if (absl::IsNotFound(record.status())) {
    return WithReason(
        WithHint(absl::NotFoundError(absl::StrCat("no worker ", request.id(), " is recorded")),
                 "`llorch-pool worker list --all` lists the recorded workers"),
        reasons::kWorkerNotFound);
  }
  if (!record.ok()) return record.status();

  // Before the log is read, so that no line written before the exit is missed.
  std::optional<Pidfd> pidfd;
  bool our_child = false;
  if (request.follow() && record->pid > 0) {
    if (absl::StatusOr<Pidfd> opened = Pidfd::Open(static_cast<pid_t>(record->pid));
        opened.ok() && IsRecordedProcessAlive(*record)) {
      pidfd.emplace(*std::move(opened));
      absl::StatusOr<ProcStat> stat = ReadProcStat(static_cast<pid_t>(record->pid));
      our_child = stat.ok() && stat->ppid == getpid();
    }
  }

  const std::string name = WorkerLogName(request.id());
  absl::StatusOr<UniqueFd> fd = records->logs().OpenRegularFile(name);
  if (absl::IsNotFound(fd.status())) {
    return WithHint(absl::NotFoundError(absl::StrCat(
                        "worker ", request.id(),
                        " has no log: ", records->logs().PathOf(name).string(), " is gone")),
                    "a new spawn of the worker starts a new log");
  }
  if (!fd.ok()) return fd.status();
  LogReader reader(records->logs(), request.id(), *std::move(fd));
  reader.SeekToTail(request.tail_lines());

  bool exited = pidfd && pidfd->Exited();
  while (true) {
    if (!reader.ReadOn(write)) return absl::OkStatus();
    if (!request.follow()) break;
    if (!pidfd || exited) {
      // Whatever it wrote last is on disk now.
      if (!reader.ReadOn(write) || !reader.Flush(write)) return absl::OkStatus();
      std::optional<int> code;
      if (pidfd) code = ExitCodeOf(*records, *record, our_child);
      if (!code && !pidfd) code = record->exit_code;
      write(LineOf(v1::LogLine::STREAM_AGENT,
                   absl::StrCat("worker ", request.id(), " exited",
                                code ? absl::StrCat(" with code ", *code)
                                     : std::string("; its exit code is not known to this agent"))));
      return absl::OkStatus();
    }
    if (cancelled()) return absl::OkStatus();
    exited = pidfd->WaitForExit(kFollowInterval);
  }
  reader.Flush(write);
  return absl::OkStatus();
}

}  // namespace llorch
