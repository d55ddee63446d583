#include "agent/models/model_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/models/http_client.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

int ReadPid(int fd) {
  char text[32] = {};
  const ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  return n > 0 ? std::atoi(text) : 0;
}

// The locked descriptor; -1 when another process holds the lock (its pid in *holder).
absl::StatusOr<int> TryLock(const fs::path& path, int* holder) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  for (;;) {
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
      return absl::InternalError(
          absl::StrCat("cannot open the lock file ", path.string(), ": ", std::strerror(errno)));
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      if (error == EWOULDBLOCK) *holder = ReadPid(fd);
      close(fd);
      if (error == EWOULDBLOCK) return -1;
      return absl::InternalError(
          absl::StrCat("cannot lock ", path.string(), ": ", std::strerror(error)));
    }
    struct stat locked {};
    struct stat named {};
    if (fstat(fd, &locked) == 0 && stat(path.c_str(), &named) == 0 &&
        locked.st_dev == named.st_dev && locked.st_ino == named.st_ino) {
      const std::string pid = absl::StrCat(getpid(), "\n");
      if (ftruncate(fd, 0) == 0) {
        [[maybe_unused]] ssize_t n = pwrite(fd, pid.data(), pid.size(), 0);
      }
      return fd;
    }
    close(fd);  // the holder removed the file as it let go: lock the one at the path now
  }
}

}  // namespace

absl::StatusOr<ModelLock> ModelLock::Acquire(const ModelStore& store, const CatalogModel& model,
                                             const std::function<bool()>& cancelled,
                                             const std::function<void(int holder_pid)>& on_wait,
                                             absl::Duration poll) {
  const fs::path path = store.LockPath(model);
  bool told = false;
  for (;;) {
    int holder = 0;
    absl::StatusOr<int> fd = TryLock(path, &holder);
    if (!fd.ok()) return fd.status();
    if (*fd >= 0) return ModelLock(*fd, path);
    if (!told && on_wait) on_wait(holder);
    told = true;
    if (!SleepUnlessCancelled(poll, cancelled)) {
      return absl::CancelledError(
          absl::StrCat("cancelled while waiting for another process to finish with ", model.id));
    }
  }
}

absl::StatusOr<ModelLock> ModelLock::TryAcquire(const ModelStore& store,
                                                const CatalogModel& model) {
  const fs::path path = store.LockPath(model);
  int holder = 0;
  absl::StatusOr<int> fd = TryLock(path, &holder);
  if (!fd.ok()) return fd.status();
  if (*fd >= 0) return ModelLock(*fd, path);
  return WithReason(
      WithHint(absl::FailedPreconditionError(absl::StrCat(
                   model.id, " is being downloaded right now",
                   holder > 0 ? absl::StrCat(" (by process ", holder, ")") : "")),
               "wait for it to finish, or cancel it (`llorch-pool ops list` shows the agent's "
               "operations; a standalone CLI stops with Ctrl-C)"),
      "MODEL_BUSY");
}

ModelLock::ModelLock(ModelLock&& other) noexcept
    : fd_(other.fd_), path_(std::move(other.path_)) {
  other.fd_ = -1;
}

ModelLock::~ModelLock() {
  if (fd_ < 0) return;
  unlink(path_.c_str());  // while still locked: a waiter then sees another inode, or none
  close(fd_);
}

}  // namespace llorch
