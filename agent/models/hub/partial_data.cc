#include "agent/models/hub/partial_data.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

absl::Status ErrnoStatus(int error, const char* what, const fs::path& path) {
  const std::string message = absl::StrCat(what, " ", path.string(), ": ", std::strerror(error));
  if (error == ENOSPC || error == EDQUOT) {
    return WithHint(absl::ResourceExhaustedError(message),
                    "free space on the models volume (`llorch-pool models du` shows what is "
                    "there), then run the download again: it resumes");
  }
  return absl::InternalError(message);
}

}  // namespace

Chunk::Chunk(size_t capacity)
    : bytes_(static_cast<char*>(std::aligned_alloc(kAlignment, capacity))), capacity_(capacity) {
  if (!bytes_) throw std::bad_alloc();
}

std::shared_ptr<Chunk> ChunkPool::Acquire() {
  std::unique_ptr<Chunk> chunk;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!free_.empty()) {
      chunk = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (!chunk) chunk = std::make_unique<Chunk>(chunk_bytes_);
  return std::shared_ptr<Chunk>(chunk.release(), [this](Chunk* used) { Return(used); });
}

void ChunkPool::Return(Chunk* chunk) {
  chunk->size = 0;
  std::lock_guard<std::mutex> lock(mu_);
  free_.emplace_back(chunk);
}

absl::StatusOr<std::unique_ptr<PartialData>> PartialData::Open(const DirFd& dir,
                                                               const std::string& name,
                                                               bool direct) {
  absl::StatusOr<UniqueFd> fd = dir.OpenFile(name, O_RDWR);
  if (!fd.ok()) return fd.status();
  return WithDirectWrites(dir, name, *std::move(fd), direct);
}

absl::StatusOr<std::unique_ptr<PartialData>> PartialData::Create(const DirFd& dir,
                                                                 const std::string& name,
                                                                 uint64_t size, bool direct) {
  const fs::path path = dir.PathOf(name);
  absl::StatusOr<UniqueFd> fd = dir.OpenFile(name, O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (!fd.ok()) {
    return absl::IsResourceExhausted(fd.status()) ? ErrnoStatus(ENOSPC, "cannot create", path)
                                                  : fd.status();
  }
  absl::StatusOr<std::unique_ptr<PartialData>> data =
      WithDirectWrites(dir, name, *std::move(fd), direct);
  if (!data.ok()) return data;
  if (absl::Status reserved = (*data)->Reserve(size); !reserved.ok()) return reserved;
  return data;
}

absl::Status PartialData::Reserve(uint64_t size) const {
  if (size == 0) return absl::OkStatus();
  if (fallocate(fd_, 0, 0, static_cast<off_t>(size)) == 0) return absl::OkStatus();
  const int error = errno;
  if (error != EOPNOTSUPP && error != ENOSYS) {
    return ErrnoStatus(error, "cannot reserve space for", path_);
  }
  if (ftruncate(fd_, static_cast<off_t>(size)) != 0) {
    return ErrnoStatus(errno, "cannot size", path_);
  }
  return absl::OkStatus();
}

void PartialData::Release(uint64_t offset, uint64_t size) const {
  if (size == 0) return;
  // Best effort: the space is only held, not lost, where the filesystem cannot punch holes.
  fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, static_cast<off_t>(offset),
            static_cast<off_t>(size));
}

absl::StatusOr<std::unique_ptr<PartialData>> PartialData::WithDirectWrites(const DirFd& dir,
                                                                           const std::string& name,
                                                                           UniqueFd fd,
                                                                           bool direct) {
  // Filesystems without O_DIRECT (tmpfs, some FUSE ones) refuse the open: writes then all go
  // through the page cache.
  absl::StatusOr<UniqueFd> direct_fd =
      direct ? dir.OpenFile(name, O_WRONLY | O_DIRECT) : absl::StatusOr<UniqueFd>(UniqueFd());
  struct stat buffered {};
  struct stat unbuffered {};
  const bool same_file =
      direct_fd.ok() && direct_fd->get() >= 0 && fstat(fd.get(), &buffered) == 0 &&
      fstat(direct_fd->get(), &unbuffered) == 0 && buffered.st_dev == unbuffered.st_dev &&
      buffered.st_ino == unbuffered.st_ino;
  const int direct_raw = same_file ? direct_fd->Release() : -1;
  return std::unique_ptr<PartialData>(new PartialData(dir.PathOf(name), fd.Release(), direct_raw));
}

PartialData::~PartialData() {
  close(fd_);
  if (direct_fd_ >= 0) close(direct_fd_);
}

absl::Status PartialData::Write(const Chunk& chunk) {
  size_t direct = 0;
  if (direct_fd_ >= 0 && !direct_refused_.load(std::memory_order_relaxed) &&
      chunk.offset % Chunk::kAlignment == 0) {
    direct = chunk.size / Chunk::kAlignment * Chunk::kAlignment;
  }
  if (direct > 0) {
    absl::Status status = WriteAll(direct_fd_, chunk.data(), direct, chunk.offset);
    // EINVAL: the filesystem wants another alignment after all; the page cache takes it all.
    if (absl::IsInvalidArgument(status)) {
      direct_refused_.store(true, std::memory_order_relaxed);
      direct = 0;
    } else if (!status.ok()) {
      return status;
    }
  }
  return WriteAll(fd_, chunk.data() + direct, chunk.size - direct, chunk.offset + direct);
}

absl::Status PartialData::WriteAll(int fd, const char* data, size_t size, uint64_t offset) const {
  while (size > 0) {
    const ssize_t written = pwrite(fd, data, size, static_cast<off_t>(offset));
    if (written < 0 && errno == EINTR) continue;
    if (written < 0 && errno == EINVAL && fd == direct_fd_) {
      return absl::InvalidArgumentError("direct write refused");
    }
    if (written <= 0) return ErrnoStatus(written < 0 ? errno : EIO, "cannot write", path_);
    data += written;
    offset += static_cast<uint64_t>(written);
    size -= static_cast<size_t>(written);
  }
  return absl::OkStatus();
}

absl::StatusOr<size_t> PartialData::Read(char* data, size_t size, uint64_t offset) const {
  while (true) {
    const ssize_t n = pread(fd_, data, size, static_cast<off_t>(offset));
    if (n >= 0) return static_cast<size_t>(n);
    if (errno != EINTR) return ErrnoStatus(errno, "cannot read back", path_);
  }
}

absl::Status PartialData::Sync() const {
  if (fdatasync(fd_) != 0) return ErrnoStatus(errno, "cannot sync", path_);
  return absl::OkStatus();
}

void PartialData::StartWriteback(uint64_t offset, uint64_t size) const {
  sync_file_range(fd_, static_cast<off_t>(offset), static_cast<off_t>(size), SYNC_FILE_RANGE_WRITE);
}

}  // namespace llorch
