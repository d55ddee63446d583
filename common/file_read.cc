#include "common/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace llorch {
namespace {

// Closes the descriptor when the read is over, on every path.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() { close(fd_); }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// "a FIFO (named pipe)", for a file type that is not a regular file.
const char* TypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

// "1 MiB", "64 KiB" or "100 bytes".
std::string LimitText(uint64_t bytes) {
  if (bytes >= (1u << 20) && bytes % (1u << 20) == 0) return absl::StrCat(bytes >> 20, " MiB");
  if (bytes >= 1024 && bytes % 1024 == 0) return absl::StrCat(bytes >> 10, " KiB");
  return absl::StrCat(bytes, " bytes");
}

}  // namespace

absl::StatusOr<std::string> ReadRegularFileAt(int dir_fd, const std::string& path,
                                              const FileReadOptions& options) {
  const std::string subject = absl::StrCat(path, ": the ", options.what);
  const int flags =
      O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | (options.follow_symlinks ? 0 : O_NOFOLLOW);
  const int fd = openat(dir_fd, path.c_str(), flags);
  if (fd < 0) {
    const int error = errno;
    switch (error) {
      case ENOENT:
      case ENOTDIR:
        return absl::NotFoundError(absl::StrCat(subject, " does not exist"));
      case EACCES:
      case EPERM:
        return WithHint(absl::PermissionDeniedError(
                            absl::StrCat(subject, " cannot be read: ", std::strerror(error))),
                        absl::StrCat("make it readable for this user, e.g. chmod a+r ", path));
      case ELOOP:
        if (!options.follow_symlinks) {
          return WithHint(absl::InvalidArgumentError(absl::StrCat(
                              subject, " is a symbolic link, which is not followed here")),
                          "replace the link with the file itself");
        }
        break;
      default:
        break;
    }
    return absl::ErrnoToStatus(error, absl::StrCat(subject, " cannot be opened"));
  }
  FdCloser closer(fd);
  struct stat info {};
  if (fstat(fd, &info) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat(subject, " cannot be examined"));
  }
  if (!S_ISREG(info.st_mode)) {
    return WithHint(absl::InvalidArgumentError(absl::StrCat(subject, " is ", TypeName(info.st_mode),
                                                            ", not a regular file")),
                    absl::StrCat("give the path of a regular file; a ", options.what,
                                 " is never read from a pipe, device or directory"));
  }
  const uint64_t size = static_cast<uint64_t>(info.st_size);
  if (size > options.max_bytes) {
    return WithHint(
        absl::InvalidArgumentError(absl::StrCat(subject, " is ", size, " bytes, over the limit of ",
                                                LimitText(options.max_bytes))),
        absl::StrCat("check that this is the right file: a ", options.what,
                     " is a small text file"));
  }
  std::string text(size, '\0');
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = read(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, absl::StrCat(subject, " cannot be read"));
    if (n == 0) break;  // it shrank while we read it
    done += static_cast<size_t>(n);
  }
  text.resize(done);
  return text;
}

absl::StatusOr<std::string> ReadRegularFile(const std::string& path,
                                            const FileReadOptions& options) {
  return ReadRegularFileAt(AT_FDCWD, path, options);
}

absl::Status RefuseOthersPermissions(const std::string& path, absl::string_view key,
                                     absl::string_view what, absl::string_view fix) {
  struct stat info {};
  if (stat(path.c_str(), &info) != 0 || (info.st_mode & 0007) == 0) return absl::OkStatus();
  char mode[8];
  std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(info.st_mode & 07777));
  return WithHint(
      absl::InvalidArgumentError(absl::StrCat(key, ": ", path, " has mode ", mode, ": ", what,
                                              " must not be readable by other users")),
      fix);
}

}  // namespace llorch
