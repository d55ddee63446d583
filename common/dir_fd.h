// Directories reached without following symlinks, and the files in them.
//
// A tree we own (the models directory) is entered at its root, which is opened as configured:
// a symlink in the root's own path is the operator's choice (models on another volume). Below
// it, every directory is opened one component at a time with O_NOFOLLOW, and every file is
// created, opened, renamed, removed and stat'ed relative to its directory's fd (openat, mkdirat,
// renameat, unlinkat, fstatat with AT_SYMLINK_NOFOLLOW). A symlink planted anywhere below the
// root is therefore never followed out of it, and a directory, once opened, stays the one that
// was checked: swapping a link in afterwards changes nothing.
#ifndef LLORCH_COMMON_DIR_FD_H_
#define LLORCH_COMMON_DIR_FD_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// An owned file descriptor, closed when it goes.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  int get() const { return fd_; }
  int Release();

 private:
  int fd_ = -1;
};

class DirFd {
 public:
  // Opens the directory at `path` as a root: symlinks in `path` are followed (the caller trusts
  // it). With `create`, it and its missing parents are made (0755).
  static absl::StatusOr<DirFd> OpenRoot(const std::filesystem::path& path, bool create);

  DirFd(DirFd&&) = default;
  DirFd& operator=(DirFd&&) = default;

  // Opens the directory `relative` below this one, one component at a time, never following a
  // symlink; with `create`, missing components are made (mkdirat, 0755) and nothing else is
  // touched before every component before them proved to be a real directory. `relative` is
  // plain components joined by '/' ("a", "a/b"): InvalidArgument for "", ".", "..", or a
  // leading '/'. Errors name the full path: FailedPrecondition with reason SYMLINK_REFUSED and
  // the link's target for a symlink, FailedPrecondition for another non-directory, NotFound
  // when missing (without `create`).
  absl::StatusOr<DirFd> OpenDir(absl::string_view relative, bool create) const;
  // The directory holding the last component of `relative` (this one, reopened, for a plain
  // name), opened as OpenDir does.
  absl::StatusOr<DirFd> OpenParentOf(absl::string_view relative, bool create) const;

  // Opens the file `name` (one component) with `flags` | O_NOFOLLOW | O_CLOEXEC; a symlink
  // there is refused (reason SYMLINK_REFUSED). Errors name the path: NotFound when missing,
  // ResourceExhausted (with a hint) when the disk is full, else Internal.
  absl::StatusOr<UniqueFd> OpenFile(absl::string_view name, int flags, mode_t mode = 0644) const;
  // Opens `name` as a regular file, for reading unless `flags` say otherwise (e.g. O_RDWR):
  // O_NONBLOCK, so a FIFO planted there cannot hold up the open or a read; FailedPrecondition
  // for anything but a regular file.
  absl::StatusOr<UniqueFd> OpenRegularFile(absl::string_view name, int flags = O_RDONLY) const;
  // The contents of the regular file `name`, read as ReadRegularFileAt (common/file_read.h)
  // reads: a FIFO, device or file over `max_bytes` is refused at once (InvalidArgument), a
  // symlink with reason SYMLINK_REFUSED.
  absl::StatusOr<std::string> ReadFile(absl::string_view name, uint64_t max_bytes) const;

  // What is at `name` itself (a symlink is not followed); nullopt when nothing is.
  std::optional<struct stat> Stat(absl::string_view name) const;
  // Where the symlink `name` points; "" when it is none.
  std::string ReadLink(absl::string_view name) const;
  // The names of the entries, without "." and "..", sorted.
  absl::StatusOr<std::vector<std::string>> List() const;

  struct TreeEntry {
    std::string path;            // relative to this directory, components joined by '/'
    struct stat info;            // of the entry itself
    std::string symlink_target;  // for a symlink
  };
  // Every entry below this directory except directories, depth first in name order. A symlink
  // is an entry, never descended into; so is a directory `max_depth` levels down (a planted
  // tree thousands of levels deep must not exhaust the stack or the fds). Unreadable
  // directories are skipped.
  std::vector<TreeEntry> ListTree(int max_depth = 32) const;

  // Removes the file or symlink `name` (never what a link points to); a missing one is fine.
  absl::Status Unlink(absl::string_view name) const;
  // Removes the directory `name` if it is empty; true when it went.
  bool RemoveEmptyDir(absl::string_view name) const;
  // Removes `name` and, for a directory, everything in it, following no symlink; a missing one
  // is fine.
  absl::Status RemoveTree(absl::string_view name) const;
  // Renames `name` to `to_name` in `to` (same filesystem), replacing what is there.
  absl::Status Rename(absl::string_view name, const DirFd& to, absl::string_view to_name) const;
  // Makes the entries' changes (creations, renames, removals) durable.
  absl::Status Sync() const;

  int fd() const { return fd_.get(); }
  // The directory's path, for messages.
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path PathOf(absl::string_view name) const;

 private:
  DirFd(UniqueFd fd, std::filesystem::path path) : fd_(std::move(fd)), path_(std::move(path)) {}
  // Another handle on the same directory.
  absl::StatusOr<DirFd> Dup() const;
  // Opens the one component `name` below this directory as a directory.
  absl::StatusOr<DirFd> OpenChild(const std::string& name, bool create) const;

  UniqueFd fd_;
  std::filesystem::path path_;
};

// Whether `name` is one plain path component: not empty, ".", "..", and without '/'.
bool IsPlainComponent(absl::string_view name);

}  // namespace llorch

#endif  // LLORCH_COMMON_DIR_FD_H_
