#include "agent/models/store/model_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/models/hub/http_client.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/strings.h"

namespace llorch {
namespace {

// The lock file's text: one line each for pid, program, operation id and work.
std::string HolderText(const LockHolder& holder) {
  return absl::StrCat(holder.pid, "\n", holder.program, "\n", holder.operation_id, "\n",
                      holder.work, "\n");
}

LockHolder ReadHolder(int fd) {
  char text[512] = {};
  const ssize_t n = pread(fd, text, sizeof(text) - 1, 0);
  LockHolder holder;
  if (n <= 0) return holder;
  std::vector<std::string> lines = absl::StrSplit(absl::string_view(text, n), '\n');
  lines.resize(4);
  if (!absl::SimpleAtoi(lines[0], &holder.pid)) holder.pid = 0;
  holder.program = ToValidUtf8(lines[1]);
  holder.operation_id = ToValidUtf8(lines[2]);
  holder.work = ToValidUtf8(lines[3]);
  return holder;
}

// The lock file, locked and saying `self` holds it; an invalid fd when someone else holds the
// lock (described in *holder).
absl::StatusOr<UniqueFd> TryLock(const DirFd& dir, const std::string& name, const LockHolder& self,
                                 LockHolder* holder) {
  for (;;) {
    absl::StatusOr<UniqueFd> fd = dir.OpenFile(name, O_RDWR | O_CREAT, 0644);
    if (!fd.ok()) return WithPrefix(fd.status(), "cannot open the lock file");
    if (flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      if (error != EWOULDBLOCK) {
        return absl::InternalError(
            absl::StrCat("cannot lock ", dir.PathOf(name).string(), ": ", std::strerror(error)));
      }
      *holder = ReadHolder(fd->get());
      return UniqueFd();
    }
    struct stat locked {};
    std::optional<struct stat> named = dir.Stat(name);
    if (fstat(fd->get(), &locked) == 0 && named && locked.st_dev == named->st_dev &&
        locked.st_ino == named->st_ino) {
      const std::string text = HolderText(self);
      if (ftruncate(fd->get(), 0) == 0) {
        [[maybe_unused]] ssize_t n = pwrite(fd->get(), text.data(), text.size(), 0);
      }
      return fd;
    }
    // The holder removed the file as it let go: lock the one at the path now.
  }
}

}  // namespace

LockHolder LockHolder::OfThisProcess(std::string operation_id, std::string work) {
  LockHolder self;
  self.pid = getpid();
  self.program = program_invocation_short_name;
  self.operation_id = std::move(operation_id);
  self.work = std::move(work);
  return self;
}

bool LockHolder::InThisProcess() const { return pid == getpid(); }

std::string LockHolder::Describe() const {
  const std::string operation =
      operation_id.empty() ? work : absl::StrCat("operation ", operation_id, " (", work, ")");
  if (InThisProcess()) {
    return absl::StrCat(operation.empty() ? "other work" : operation, " of this agent");
  }
  if (pid <= 0) return "another process";
  return absl::StrCat("process ", pid, program.empty() ? "" : absl::StrCat(" (", program, ")"),
                      operation.empty() ? "" : absl::StrCat(", ", operation));
}

absl::StatusOr<ModelLock> ModelLock::Acquire(const ModelStore& store, const CatalogModel& model,
                                             const LockHolder& self,
                                             const std::function<bool()>& cancelled,
                                             const std::function<void(const LockHolder&)>& on_wait,
                                             absl::Duration poll) {
  absl::StatusOr<DirFd> dir = store.OpenDir(model, ModelStore::kMetadataDir, true);
  if (!dir.ok()) return dir.status();
  const std::string name = store.LockPath(model).filename().string();
  std::optional<LockHolder> told;    // the holder on_wait heard of last
  std::optional<LockHolder> before;  // the holder met on the try before
  for (;;) {
    LockHolder holder;
    absl::StatusOr<UniqueFd> fd = TryLock(*dir, name, self, &holder);
    if (!fd.ok()) return fd.status();
    if (fd->get() >= 0) return ModelLock(*std::move(fd), *std::move(dir), name);
    // A holder without a pid is most likely still writing its file: wait a try to know it.
    const bool known = holder.pid > 0 || before == holder;
    if (on_wait && known && told != holder) {
      on_wait(holder);
      told = holder;
    }
    before = holder;
    if (!SleepUnlessCancelled(poll, cancelled)) {
      return absl::CancelledError(absl::StrCat("cancelled while waiting for ", holder.Describe(),
                                               " to finish with ", model.id));
    }
  }
}

absl::StatusOr<ModelLock> ModelLock::TryAcquire(const ModelStore& store, const CatalogModel& model,
                                                const LockHolder& self) {
  absl::StatusOr<DirFd> dir = store.OpenDir(model, ModelStore::kMetadataDir, true);
  if (!dir.ok()) return dir.status();
  const std::string name = store.LockPath(model).filename().string();
  LockHolder holder;
  absl::StatusOr<UniqueFd> fd = TryLock(*dir, name, self, &holder);
  if (!fd.ok()) return fd.status();
  if (fd->get() >= 0) return ModelLock(*std::move(fd), *std::move(dir), name);
  const bool ours = holder.InThisProcess() && !holder.operation_id.empty();
  absl::Status busy = WithReason(
      WithHint(absl::FailedPreconditionError(
                   absl::StrCat(model.id, " is in use right now by ", holder.Describe())),
               ours ? absl::StrCat("wait for it to finish, or cancel it: `llorch-pool ops cancel ",
                                   holder.operation_id, "`")
                    : "wait for it to finish, or stop it (a standalone `llorch-pool` stops with "
                      "Ctrl-C)"),
      reasons::kModelBusy);
  busy = WithMetadata(std::move(busy), metadata::kModel, model.id);
  if (ours) return WithMetadata(std::move(busy), metadata::kOperationId, holder.operation_id);
  if (holder.pid > 0 && !holder.InThisProcess()) {
    busy = WithMetadata(std::move(busy), metadata::kHolderPid, absl::StrCat(holder.pid));
  }
  return busy;
}

ModelLock::~ModelLock() {
  if (fd_.get() < 0) return;
  // While still locked: a waiter then sees another inode, or none.
  dir_.Unlink(name_).IgnoreError();
}

}  // namespace llorch
