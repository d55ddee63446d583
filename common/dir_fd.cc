#include "common/dir_fd.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/file_read.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

// "a directory", "a FIFO", ...: what a non-regular entry is, for messages.
const char* KindOf(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISLNK(mode)) return "a symlink";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  return "a regular file";
}

absl::Status ErrnoStatus(int error, absl::string_view what, const fs::path& path) {
  const std::string message = absl::StrCat(what, " ", path.string(), ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    case ENOSPC:
    case EDQUOT:
      return absl::ResourceExhaustedError(message);
    default:
      return absl::InternalError(message);
  }
}

absl::Status InvalidName(absl::string_view name, const fs::path& dir) {
  return absl::InvalidArgumentError(
      absl::StrCat("'", name, "' is not a plain name in ", dir.string(), " (no '/', '.' or '..')"));
}

absl::Status SymlinkRefused(const fs::path& path, const std::string& target) {
  return WithMetadata(
      WithMetadata(
          WithReason(WithHint(absl::FailedPreconditionError(absl::StrCat(
                                  path.string(), " is a symlink (to ", target,
                                  "); llorch-pool creates, reads and removes nothing through one")),
                              "replace the link with the directory or file itself"),
                     reasons::kSymlinkRefused),
          metadata::kPath, path.string()),
      metadata::kSymlinkTarget, target);
}

// Why `name` in `dir` could not be opened as what was wanted (`error` from the open): a symlink
// or another kind of entry says so, anything else is the errno.
absl::Status DescribeOpenError(const DirFd& dir, absl::string_view name, int error, bool want_dir) {
  const fs::path path = dir.PathOf(name);
  std::optional<struct stat> info = dir.Stat(name);
  if (info && S_ISLNK(info->st_mode)) return SymlinkRefused(path, dir.ReadLink(name));
  if (info && want_dir && !S_ISDIR(info->st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path.string(), " is ", KindOf(info->st_mode), ", not a directory"));
  }
  return ErrnoStatus(error, "cannot open", path);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) close(fd_);
}

int UniqueFd::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

bool IsPlainComponent(absl::string_view name) {
  return !name.empty() && name != "." && name != ".." &&
         name.find('/') == absl::string_view::npos && name.find('\0') == absl::string_view::npos;
}

absl::StatusOr<DirFd> DirFd::OpenRoot(const fs::path& path, bool create) {
  if (create) {
    std::error_code ec;
    fs::create_directories(path, ec);
    if (ec) {
      return absl::InternalError(absl::StrCat("cannot create ", path.string(), ": ", ec.message()));
    }
  }
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOTDIR) {
      return absl::FailedPreconditionError(absl::StrCat(path.string(), " is not a directory"));
    }
    return ErrnoStatus(errno, "cannot open", path);
  }
  return DirFd(UniqueFd(fd), path);
}

absl::StatusOr<DirFd> DirFd::Dup() const {
  const int fd = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "cannot open", path_);
  return DirFd(UniqueFd(fd), path_);
}

fs::path DirFd::PathOf(absl::string_view name) const { return path_ / std::string(name); }

absl::StatusOr<DirFd> DirFd::OpenChild(const std::string& name, bool create) const {
  for (bool made = false;;) {
    const int fd = openat(fd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) return DirFd(UniqueFd(fd), PathOf(name));
    const int error = errno;
    if (error != ENOENT || !create || made) return DescribeOpenError(*this, name, error, true);
    if (mkdirat(fd_.get(), name.c_str(), 0755) != 0 && errno != EEXIST) {
      return ErrnoStatus(errno, "cannot create", PathOf(name));
    }
    made = true;
  }
}

absl::StatusOr<DirFd> DirFd::OpenDir(absl::string_view relative, bool create) const {
  std::vector<std::string> parts = absl::StrSplit(relative, '/');
  for (const std::string& part : parts) {
    if (!IsPlainComponent(part)) return InvalidName(relative, path_);
  }
  absl::StatusOr<DirFd> dir = OpenChild(parts.front(), create);
  for (size_t i = 1; i < parts.size() && dir.ok(); ++i) dir = dir->OpenChild(parts[i], create);
  return dir;
}

absl::StatusOr<DirFd> DirFd::OpenParentOf(absl::string_view relative, bool create) const {
  const size_t slash = relative.rfind('/');
  if (slash == absl::string_view::npos) return Dup();
  return OpenDir(relative.substr(0, slash), create);
}

absl::StatusOr<UniqueFd> DirFd::OpenFile(absl::string_view name, int flags, mode_t mode) const {
  if (!IsPlainComponent(name)) return InvalidName(name, path_);
  const std::string file(name);
  const int fd = openat(fd_.get(), file.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode);
  if (fd < 0) return DescribeOpenError(*this, name, errno, false);
  return UniqueFd(fd);
}

absl::StatusOr<UniqueFd> DirFd::OpenRegularFile(absl::string_view name, int flags) const {
  absl::StatusOr<UniqueFd> fd = OpenFile(name, flags | O_NONBLOCK);
  if (!fd.ok()) return fd.status();
  struct stat info {};
  if (fstat(fd->get(), &info) != 0) return ErrnoStatus(errno, "cannot stat", PathOf(name));
  if (!S_ISREG(info.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat(PathOf(name).string(), " is ", KindOf(info.st_mode), ", not a regular file"));
  }
  return fd;
}

absl::StatusOr<std::string> DirFd::ReadFile(absl::string_view name, uint64_t max_bytes) const {
  if (!IsPlainComponent(name)) return InvalidName(name, path_);
  // Its messages start "<name>: the <what> ...": the directory goes into what.
  const std::string what = absl::StrCat("file in ", path_.string());
  absl::StatusOr<std::string> text =
      ReadRegularFileAt(fd_.get(), std::string(name),
                        {.max_bytes = max_bytes, .follow_symlinks = false, .what = what});
  // A symlink is not opened (O_NOFOLLOW); only then is it looked at, for the message.
  if (std::optional<struct stat> info = text.ok() ? std::nullopt : Stat(name);
      info && S_ISLNK(info->st_mode)) {
    return SymlinkRefused(PathOf(name), ReadLink(name));
  }
  return text;
}

std::optional<struct stat> DirFd::Stat(absl::string_view name) const {
  if (!IsPlainComponent(name)) return std::nullopt;
  struct stat info {};
  if (fstatat(fd_.get(), std::string(name).c_str(), &info, AT_SYMLINK_NOFOLLOW) != 0) {
    return std::nullopt;
  }
  return info;
}

std::string DirFd::ReadLink(absl::string_view name) const {
  if (!IsPlainComponent(name)) return "";
  char target[4096];
  const ssize_t n = readlinkat(fd_.get(), std::string(name).c_str(), target, sizeof(target));
  return n > 0 ? std::string(target, static_cast<size_t>(n)) : "";
}

absl::StatusOr<std::vector<std::string>> DirFd::List() const {
  // A new open file description: readdir's position is not shared with fd_.
  const int fd = openat(fd_.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* dir = fd >= 0 ? fdopendir(fd) : nullptr;
  if (dir == nullptr) {
    const int error = errno;
    if (fd >= 0) close(fd);
    return ErrnoStatus(error, "cannot list", path_);
  }
  std::vector<std::string> names;
  while (const dirent* entry = readdir(dir)) {
    const absl::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

std::vector<DirFd::TreeEntry> DirFd::ListTree(int max_depth) const {
  std::vector<TreeEntry> entries;
  absl::StatusOr<std::vector<std::string>> names = List();
  if (!names.ok()) return entries;
  for (const std::string& name : *names) {
    std::optional<struct stat> info = Stat(name);
    if (!info) continue;
    if (S_ISDIR(info->st_mode) && max_depth > 0) {
      absl::StatusOr<DirFd> child = OpenChild(name, false);
      if (!child.ok()) continue;
      for (TreeEntry& entry : child->ListTree(max_depth - 1)) {
        entry.path = absl::StrCat(name, "/", entry.path);
        entries.push_back(std::move(entry));
      }
      continue;
    }
    entries.push_back({name, *info, S_ISLNK(info->st_mode) ? ReadLink(name) : ""});
  }
  return entries;
}

absl::Status DirFd::Unlink(absl::string_view name) const {
  if (!IsPlainComponent(name)) return InvalidName(name, path_);
  if (unlinkat(fd_.get(), std::string(name).c_str(), 0) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "cannot remove", PathOf(name));
  }
  return absl::OkStatus();
}

bool DirFd::RemoveEmptyDir(absl::string_view name) const {
  return IsPlainComponent(name) &&
         unlinkat(fd_.get(), std::string(name).c_str(), AT_REMOVEDIR) == 0;
}

absl::Status DirFd::RemoveTree(absl::string_view name) const {
  std::optional<struct stat> info = Stat(name);
  if (!info) return Unlink(name);  // missing (fine), or an invalid name (said so)
  if (!S_ISDIR(info->st_mode)) return Unlink(name);
  absl::StatusOr<DirFd> dir = OpenChild(std::string(name), false);
  if (!dir.ok()) return dir.status();
  absl::StatusOr<std::vector<std::string>> names = dir->List();
  if (!names.ok()) return names.status();
  for (const std::string& entry : *names) {
    if (absl::Status status = dir->RemoveTree(entry); !status.ok()) return status;
  }
  if (unlinkat(fd_.get(), std::string(name).c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT) {
    return ErrnoStatus(errno, "cannot remove", PathOf(name));
  }
  return absl::OkStatus();
}

absl::Status DirFd::Rename(absl::string_view name, const DirFd& to,
                           absl::string_view to_name) const {
  if (!IsPlainComponent(name)) return InvalidName(name, path_);
  if (!IsPlainComponent(to_name)) return InvalidName(to_name, to.path_);
  if (renameat(fd_.get(), std::string(name).c_str(), to.fd(), std::string(to_name).c_str()) != 0) {
    return ErrnoStatus(errno, absl::StrCat("cannot rename ", PathOf(name).string(), " to"),
                       to.PathOf(to_name));
  }
  return absl::OkStatus();
}

absl::Status DirFd::Sync() const {
  if (fsync(fd_.get()) != 0) return ErrnoStatus(errno, "cannot sync", path_);
  return absl::OkStatus();
}

}  // namespace llorch
