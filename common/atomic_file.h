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

}  // namespace llorch

#endif  // LLORCH_COMMON_ATOMIC_FILE_H_
