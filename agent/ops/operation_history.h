// The operations pool-agent keeps across its restarts: one file per operation in a directory of
// the state directory (<state_dir>/operations/<id>.pb, a serialized OperationRecord), written
// atomically (common/atomic_file.h) and reached through a DirFd, so no symlink there is
// followed. The registry (operation_registry.h) decides what to write and when to forget.
//
// One agent at a time: Open() locks the directory for as long as the history lives, so a second
// agent with the same state directory cannot take for dead the operations the first one runs.
#ifndef LLORCH_AGENT_OPS_OPERATION_HISTORY_H_
#define LLORCH_AGENT_OPS_OPERATION_HISTORY_H_

#include <filesystem>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/ops/operation_record.pb.h"
#include "common/dir_fd.h"

namespace llorch {

class OperationHistory {
 public:
  // Opens the directory `dir`, creating it (and missing parents) when needed, and locks it.
  // FailedPrecondition with a hint when another process holds the lock.
  static absl::StatusOr<std::unique_ptr<OperationHistory>> Open(const std::filesystem::path& dir);

  // Every record in the directory, in no particular order. Files that cannot be records (cut off,
  // or not records at all) are removed with a warning in the log, and so are the temp files of
  // writes a crash cut short; other names are left alone.
  std::vector<agent::ops::OperationRecord> Load() const;

  // Writes `record` as the file of its operation, replacing the one before.
  absl::Status Save(const agent::ops::OperationRecord& record) const;

  // Removes the file of operation `id`; a missing one is fine.
  void Remove(absl::string_view id) const;

  const std::filesystem::path& path() const { return dir_.path(); }

 private:
  explicit OperationHistory(DirFd dir) : dir_(std::move(dir)) {}

  DirFd dir_;  // holds the lock (flock on its fd)
};

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_OPERATION_HISTORY_H_
