// Writing files that matter: a temp file in the same directory, fsync, rename, fsync of the
// directory. Readers see the old content or the new, never a torn file, even after a crash.
#ifndef LLORCH_COMMON_ATOMIC_FILE_H_
#define LLORCH_COMMON_ATOMIC_FILE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

// Replaces `path` with `content` atomically (mode 0644). Creates no directories.
absl::Status WriteFileAtomically(const std::string& path, absl::string_view content);

// Moves the finished file `from` to `to` (same filesystem) the same way: fsync of `from`, rename
// over `to`, fsync of the directory. For files another program wrote, e.g. a converter's output.
absl::Status RenameDurably(const std::string& from, const std::string& to);

}  // namespace llorch

#endif  // LLORCH_COMMON_ATOMIC_FILE_H_
