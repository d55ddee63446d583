// Directories no other user can change: where pool-agent keeps its socket and state, and what
// llorch-pool requires of an agent's socket directory before it trusts the agent.
//
// A directory is trusted by the user `uid` when
//   - lstat shows a directory, not a symlink;
//   - it and every directory above it (symlinks in that path resolved) are owned by `uid` or
//     root, and neither their group nor others may write to them, except a root-owned sticky
//     directory such as /tmp (there only root and an entry's owner may rename or remove it).
// Then nobody but `uid` and root can replace the directory or anything created in it.
#ifndef LLORCH_COMMON_TRUSTED_DIR_H_
#define LLORCH_COMMON_TRUSTED_DIR_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace llorch {

// OK when `dir` is trusted by `uid`. NotFound when it does not exist; FailedPrecondition naming
// the directory at fault, its owner or mode, with a hint, otherwise.
absl::Status CheckTrustedDirectory(const std::string& dir, uid_t uid);

// Creates `dir` and any missing parents with exactly `mode` (whatever the umask), each only in a
// trusted parent, then requires `dir` to be trusted. Never changes an existing directory: one
// another user created, or with group or other write, is refused (FailedPrecondition).
absl::Status EnsureTrustedDirectory(const std::string& dir, mode_t mode, uid_t uid);

// "nobody (uid 65534)", or "uid 65534" when the user has no name.
std::string UserDescription(uid_t uid);
// "root" for uid 0, else "you (alice (uid 1000)) or root": whom a trusted path may belong to.
std::string YouOrRoot(uid_t uid);
// "llorch", or "gid 997" when the group has no name.
std::string GroupName(gid_t gid);
// The id of the group named `name` (or given as a number); NotFound when there is none.
absl::StatusOr<gid_t> GroupId(const std::string& name);

}  // namespace llorch

#endif  // LLORCH_COMMON_TRUSTED_DIR_H_
