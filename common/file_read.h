// Reading the small files a user or operator hands us (configuration, catalog, tokens, manifests)
// without trusting what the path names.
//
// ReadRegularFileAt() opens with O_NONBLOCK, so a FIFO cannot block the open; fstat()s the open
// descriptor and refuses anything but a regular file (FIFO, device, directory, socket) and
// files larger than `max_bytes`, before reading a byte; then reads at most the size fstat
// reported, so a file that grows meanwhile (or /proc-like content) cannot make it read more.
// Every error names the file, says what it is and what to do:
//   NotFound          the file does not exist (ENOENT, ENOTDIR)
//   PermissionDenied  it may not be read (EACCES, EPERM); the hint says chmod
//   InvalidArgument   not a regular file, over the limit, or a symlink when not followed
//   other             the errno's code
#ifndef LLORCH_COMMON_FILE_READ_H_
#define LLORCH_COMMON_FILE_READ_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// The limit for configuration files and catalogs (docs/configuration.md): far above any real
// one (the built-in catalog is ~15 kB), far below what would hurt.
inline constexpr uint64_t kMaxInputFileBytes = uint64_t{1} << 20;

struct FileReadOptions {
  uint64_t max_bytes = kMaxInputFileBytes;
  // false: O_NOFOLLOW, a symlink as the last component is refused (InvalidArgument).
  bool follow_symlinks = true;
  // What the file is, for messages: "<path>: the configuration file is a FIFO, ...".
  absl::string_view what = "file";
};

// The contents of `path`, relative to the directory `dir_fd` (AT_FDCWD: the working directory;
// an absolute path ignores it). See the header comment for what is refused.
absl::StatusOr<std::string> ReadRegularFileAt(int dir_fd, const std::string& path,
                                              const FileReadOptions& options = {});

// ReadRegularFileAt(AT_FDCWD, path, options).
absl::StatusOr<std::string> ReadRegularFile(const std::string& path,
                                            const FileReadOptions& options = {});

// OK when `path` grants no permission to other users (mode o-rwx); else InvalidArgument
// "<key>: <path> has mode 0644: <what> must not be readable by other users" with `fix` as its
// hint. A file that cannot be examined is left to the read that follows.
absl::Status RefuseOthersPermissions(const std::string& path, absl::string_view key,
                                     absl::string_view what, absl::string_view fix);

}  // namespace llorch

#endif  // LLORCH_COMMON_FILE_READ_H_
