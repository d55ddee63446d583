// One model's files belong to one writer at a time, across processes: two CLIs in standalone
// mode, or a CLI and the agent, never download the same model into the same partial file, and a
// delete never pulls files from under a download.
//
// The lock is flock(2) on <dir>/.llorch/<file>.lock, which says who holds it (LockHolder: pid,
// program, operation, work; the pid on the first line, as older versions wrote only that), so a
// waiter can name the operation or process it waits for.
// Taking it makes the model's directories (ModelStore::OpenDir): a symlink in the way is refused
// (FailedPrecondition, reason SYMLINK_REFUSED) before anything is created.
// The holder removes the file when it lets go (so no lock files pile up); whoever then holds the
// removed file's lock notices (the path names another inode, or none) and locks anew.
#ifndef LLORCH_AGENT_MODELS_STORE_MODEL_LOCK_H_
#define LLORCH_AGENT_MODELS_STORE_MODEL_LOCK_H_

#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/models/store/model_store.h"

namespace llorch {

// Who holds (or asks for) a model's lock.
struct LockHolder {
  int pid = 0;               // 0 when not known (the holder is still writing its lock file)
  std::string program;       // e.g. "pool-agent", "llorch-pool"; empty from older versions
  std::string operation_id;  // the holder's operation, e.g. "op-7f3a2c1d"; empty when none
  std::string work;          // what it does, e.g. "model.download", "delete"

  // `work` of this process (for `operation_id`, "" when none), as it holds a lock.
  static LockHolder OfThisProcess(std::string operation_id, std::string work);
  // True when the holder is this process (another operation of the same agent).
  bool InThisProcess() const;
  // "operation op-7f3a2c1d (model.download) of this agent", "process 4242 (llorch-pool),
  // operation op-1b2c3d4e (model.download)", or "another process" when nothing is known.
  std::string Describe() const;
  bool operator==(const LockHolder&) const = default;
};

class ModelLock {
 public:
  // Takes the lock for `self` (LockHolder::OfThisProcess), waiting while someone else holds it:
  // `on_wait` hears each holder met (one whose pid is not yet known only when it stays so for two
  // tries), and the lock is tried every `poll`. Cancelled when `cancelled` says so while waiting.
  static absl::StatusOr<ModelLock> Acquire(const ModelStore& store, const CatalogModel& model,
                                           const LockHolder& self,
                                           const std::function<bool()>& cancelled,
                                           const std::function<void(const LockHolder&)>& on_wait,
                                           absl::Duration poll = absl::Milliseconds(200));
  // Takes the lock for `self` only if it is free; FailedPrecondition (reason MODEL_BUSY) naming
  // the holder otherwise, with its operation_id (when this agent's) or pid in the metadata.
  static absl::StatusOr<ModelLock> TryAcquire(const ModelStore& store, const CatalogModel& model,
                                              const LockHolder& self);

  ModelLock(ModelLock&& other) noexcept = default;
  ModelLock& operator=(ModelLock&&) = delete;
  ModelLock(const ModelLock&) = delete;
  ~ModelLock();

 private:
  ModelLock(UniqueFd fd, DirFd dir, std::string name)
      : fd_(std::move(fd)), dir_(std::move(dir)), name_(std::move(name)) {}

  UniqueFd fd_;
  DirFd dir_;  // the metadata directory
  std::string name_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_STORE_MODEL_LOCK_H_
