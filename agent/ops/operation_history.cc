#include "agent/ops/operation_history.h"

#include <sys/file.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace llorch {
namespace {

constexpr absl::string_view kSuffix = ".pb";
// A record holds one operation's result (a git sync's lists of paths are the largest).
constexpr uint64_t kMaxRecordBytes = uint64_t{16} << 20;

std::string FileName(absl::string_view id) { return absl::StrCat(id, kSuffix); }

}  // namespace

absl::StatusOr<std::unique_ptr<OperationHistory>> OperationHistory::Open(
    const std::filesystem::path& dir) {
  absl::StatusOr<DirFd> root = DirFd::OpenRoot(dir.parent_path(), /*create=*/true);
  if (!root.ok()) return root.status();
  absl::StatusOr<DirFd> opened = root->OpenDir(dir.filename().string(), /*create=*/true);
  if (!opened.ok()) return opened.status();
  if (flock(opened->fd(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      return WithHint(
          absl::FailedPreconditionError(absl::StrCat("another pool-agent keeps its operations in ",
                                                     dir.string(), " and runs still")),
          "stop it, or give this agent a state directory of its own (state_dir in the "
          "configuration, or LLORCH_STATE_DIR)");
    }
    return absl::InternalError(
        absl::StrCat("cannot lock ", dir.string(), ": ", std::strerror(errno)));
  }
  return std::unique_ptr<OperationHistory>(new OperationHistory(*std::move(opened)));
}

std::vector<agent::ops::OperationRecord> OperationHistory::Load() const {
  std::vector<agent::ops::OperationRecord> records;
  absl::StatusOr<std::vector<std::string>> names = dir_.List();
  if (!names.ok()) {
    spdlog::warn("cannot read the operation history: {}", std::string(names.status().message()));
    return records;
  }
  for (const std::string& name : *names) {
    if (absl::StrContains(name, absl::StrCat(kSuffix, ".tmp-"))) {
      dir_.Unlink(name).IgnoreError();  // a write the agent did not finish
      continue;
    }
    if (!absl::EndsWith(name, kSuffix)) continue;
    absl::StatusOr<std::string> bytes = dir_.ReadFile(name, kMaxRecordBytes);
    agent::ops::OperationRecord record;
    if (bytes.ok() && record.ParseFromString(*bytes) && FileName(record.operation().id()) == name) {
      records.push_back(std::move(record));
      continue;
    }
    spdlog::warn("removing {} from the operation history: {}", dir_.PathOf(name).string(),
                 bytes.ok() ? "not an operation record" : std::string(bytes.status().message()));
    dir_.Unlink(name).IgnoreError();
  }
  return records;
}

absl::Status OperationHistory::Save(const agent::ops::OperationRecord& record) const {
  return WriteFileAtomically(dir_, FileName(record.operation().id()), record.SerializeAsString());
}

void OperationHistory::Remove(absl::string_view id) const {
  if (absl::Status status = dir_.Unlink(FileName(id)); !status.ok()) {
    spdlog::warn("cannot remove a record from the operation history: {}",
                 std::string(status.message()));
  }
}

}  // namespace llorch
