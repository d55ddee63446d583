#include "agent/models/store/model_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "agent/models/hub/http_client.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace {

int ReadPid(int fd) {
  char text[32] = {};
  const ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  return n > 0 ? std::atoi(text) : 0;
}

// The lock file, locked; an invalid fd when another process holds the lock (its pid in
// *holder).
absl::StatusOr<UniqueFd> TryLock(const DirFd& dir, const std::string& name, int* holder) {
  for (;;) {
    absl::StatusOr<UniqueFd> fd = dir.OpenFile(name, O_RDWR | O_CREAT, 0644);
    if (!fd.ok()) return WithPrefix(fd.status(), "cannot open the lock file");
    if (flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      if (error != EWOULDBLOCK) {
        return absl::InternalError(
            absl::StrCat("cannot lock ", dir.PathOf(name).string(), ": ", std::strerror(error)));
      }
      *holder = ReadPid(fd->get());
      return UniqueFd();
    }
    struct stat locked {};
    std::optional<struct stat> named = dir.Stat(name);
    if (fstat(fd->get(), &locked) == 0 && named && locked.st_dev == named->st_dev &&
        locked.st_ino == named->st_ino) {
      const std::string pid = absl::StrCat(getpid(), "\n");
      if (ftruncate(fd->get(), 0) == 0) {
        [[maybe_unused]] ssize_t n = pwrite(fd->get(), pid.data(), pid.size(), 0);
      }
      return fd;
    }
    // The holder removed the file as it let go: lock the one at the path now.
  }
}

}  // namespace

absl::StatusOr<ModelLock> ModelLock::Acquire(const ModelStore& store, const CatalogModel& model,
                                             const std::function<bool()>& cancelled,
                                             const std::function<void(int holder_pid)>& on_wait,
                                             absl::Duration poll) {
  absl::StatusOr<DirFd> dir = store.OpenDir(model, ModelStore::kMetadataDir, true);
  if (!dir.ok()) return dir.status();
  const std::string name = store.LockPath(model).filename().string();
  bool told = false;
  for (;;) {
    int holder = 0;
    absl::StatusOr<UniqueFd> fd = TryLock(*dir, name, &holder);
    if (!fd.ok()) return fd.status();
    if (fd->get() >= 0) return ModelLock(*std::move(fd), *std::move(dir), name);
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
  absl::StatusOr<DirFd> dir = store.OpenDir(model, ModelStore::kMetadataDir, true);
  if (!dir.ok()) return dir.status();
  const std::string name = store.LockPath(model).filename().string();
  int holder = 0;
  absl::StatusOr<UniqueFd> fd = TryLock(*dir, name, &holder);
  if (!fd.ok()) return fd.status();
  if (fd->get() >= 0) return ModelLock(*std::move(fd), *std::move(dir), name);
  absl::Status busy = WithMetadata(
      WithReason(
          WithHint(absl::FailedPreconditionError(
                       absl::StrCat(model.id, " is being downloaded right now",
                                    holder > 0 ? absl::StrCat(" (by process ", holder, ")") : "")),
                   "wait for it to finish, or cancel it (`llorch-pool ops list` shows the agent's "
                   "operations; a standalone CLI stops with Ctrl-C)"),
          reasons::kModelBusy),
      metadata::kModel, model.id);
  return holder > 0 ? WithMetadata(std::move(busy), metadata::kHolderPid, absl::StrCat(holder))
                    : busy;
}

ModelLock::~ModelLock() {
  if (fd_.get() < 0) return;
  // While still locked: a waiter then sees another inode, or none.
  dir_.Unlink(name_).IgnoreError();
}

}  // namespace llorch
