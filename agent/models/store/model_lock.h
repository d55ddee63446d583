// One model's files belong to one writer at a time, across processes: two CLIs in standalone
// mode, or a CLI and the agent, never download the same model into the same partial file, and a
// delete never pulls files from under a download.
//
// The lock is flock(2) on <dir>/.llorch/<file>.lock, which holds the holder's pid for messages.
// Taking it makes the model's directories (ModelStore::OpenDir): a symlink in the way is refused
// (FailedPrecondition, reason SYMLINK_REFUSED) before anything is created.
// The holder removes the file when it lets go (so no lock files pile up); whoever then holds the
// removed file's lock notices (the path names another inode, or none) and locks anew.
#ifndef LLORCH_AGENT_MODELS_STORE_MODEL_LOCK_H_
#define LLORCH_AGENT_MODELS_STORE_MODEL_LOCK_H_

#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/models/store/model_store.h"

namespace llorch {

class ModelLock {
 public:
  // Takes the lock, waiting while another process holds it: `on_wait` hears the holder's pid
  // (0 when unknown) once, then the lock is tried every `poll`. Cancelled when `cancelled`
  // says so while waiting.
  static absl::StatusOr<ModelLock> Acquire(const ModelStore& store, const CatalogModel& model,
                                           const std::function<bool()>& cancelled,
                                           const std::function<void(int holder_pid)>& on_wait,
                                           absl::Duration poll = absl::Milliseconds(200));
  // Takes the lock only if it is free; FailedPrecondition naming the holder's pid otherwise.
  static absl::StatusOr<ModelLock> TryAcquire(const ModelStore& store, const CatalogModel& model);

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
