// Writing files that matter: a temp file in the same directory, fsync, rename, fsync of the
// directory. Readers see the old content or the new, never a torn file, even after a crash.
// Everything is reached relative to a DirFd, so no symlink is followed (dir_fd.h).
#ifndef LLORCH_COMMON_ATOMIC_FILE_H_
#define LLORCH_COMMON_ATOMIC_FILE_H_

#include <functional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/dir_fd.h"

namespace llorch {

// Replaces `name` in `dir` with `content` atomically (mode 0644); a symlink at `name` is
// replaced, never written through. The temp file is `<name>.tmp-<random>`.
absl::Status WriteFileAtomically(const DirFd& dir, absl::string_view name,
                                 absl::string_view content);

// Replaces `name` in `dir` atomically (mode 0644) with a copy of the open file `source`, read
// from its start until a read finds its end (so bytes appended during the copy are copied too);
// returns how many bytes were copied. For a copy of a file another process keeps writing (a
// worker's log being rotated): `after_read`, when given, runs right after the read that found
// the end, before the copy is synced and renamed (e.g. to truncate the source at once); its
// error fails the copy.
absl::StatusOr<uint64_t> CopyFileAtomically(
    int source, const DirFd& dir, absl::string_view name,
    const std::function<absl::Status()>& after_read = nullptr);

// Moves the finished regular file `name` in `dir` to `to_name` in `to` (same filesystem) the
// same way: fsync of the file, rename over `to_name`, fsync of both directories. For files
// written elsewhere, e.g. a download's partial or a converter's output. FailedPrecondition
// when `name` is a symlink or not a regular file.
absl::Status RenameDurably(const DirFd& dir, absl::string_view name, const DirFd& to,
                           absl::string_view to_name);

}  // namespace llorch

#endif  // LLORCH_COMMON_ATOMIC_FILE_H_
