#include "common/trusted_dir.h"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

// `dir` absolute and lexically normal, without a trailing slash.
fs::path Normalized(const std::string& dir) {
  fs::path path = fs::absolute(dir.empty() ? "." : dir).lexically_normal();
  if (!path.has_filename() && path.has_relative_path()) path = path.parent_path();
  return path;
}

absl::Status CannotInspect(const fs::path& path, int error) {
  return absl::FailedPreconditionError(
      absl::StrCat("cannot inspect directory ", path.string(), ": ", std::strerror(error)));
}

// What makes a directory with `info` untrusted by `uid` ("" when nothing), and the hint.
std::string OwnerOrModeProblem(const struct stat& info, uid_t uid, const std::string& path,
                               std::string* hint) {
  if (info.st_uid != uid && info.st_uid != 0) {
    *hint =
        "another user created it, so they could replace what is kept there: have it removed (by "
        "root or its owner), or use another directory";
    return absl::StrCat("is owned by ", UserDescription(info.st_uid), ", not by ", YouOrRoot(uid));
  }
  const bool group_write = (info.st_mode & S_IWGRP) != 0;
  const bool other_write = (info.st_mode & S_IWOTH) != 0;
  const bool root_sticky = info.st_uid == 0 && (info.st_mode & S_ISVTX) != 0;
  if ((group_write || other_write) && !root_sticky) {
    *hint = info.st_uid == uid
                ? absl::StrCat("only you may write to it: chmod go-w ", path)
                : absl::StrCat(
                      "others could replace what is kept there: have root remove it, or "
                      "take the write permission away (chmod go-w ",
                      path, ")");
    return absl::StrFormat("can be written by %s (mode %04o)",
                           group_write && other_write ? "its group and others"
                           : group_write              ? "its group"
                                                      : "others",
                           info.st_mode & 07777);
  }
  return "";
}

absl::Status Untrusted(const std::string& what, const std::string& problem,
                       const std::string& hint) {
  return WithHint(absl::FailedPreconditionError(absl::StrCat(what, " ", problem)), hint);
}

}  // namespace

std::string UserDescription(uid_t uid) {
  struct passwd entry {};
  struct passwd* found = nullptr;
  char buffer[4096];
  if (getpwuid_r(uid, &entry, buffer, sizeof(buffer), &found) == 0 && found != nullptr) {
    return absl::StrCat(found->pw_name, " (uid ", uid, ")");
  }
  return absl::StrCat("uid ", uid);
}

std::string YouOrRoot(uid_t uid) {
  return uid == 0 ? "root" : absl::StrCat("you (", UserDescription(uid), ") or root");
}

std::string GroupName(gid_t gid) {
  struct group entry {};
  struct group* found = nullptr;
  char buffer[4096];
  if (getgrgid_r(gid, &entry, buffer, sizeof(buffer), &found) == 0 && found != nullptr) {
    return found->gr_name;
  }
  return absl::StrCat("gid ", gid);
}

absl::StatusOr<gid_t> GroupId(const std::string& name) {
  struct group entry {};
  struct group* found = nullptr;
  char buffer[4096];
  if (getgrnam_r(name.c_str(), &entry, buffer, sizeof(buffer), &found) == 0 && found != nullptr) {
    return found->gr_gid;
  }
  gid_t number = 0;
  if (absl::SimpleAtoi(name, &number)) return number;
  return WithHint(absl::NotFoundError(absl::StrCat("no group '", name, "' on this host")),
                  absl::StrCat("create it (groupadd ", name, ") or name an existing group"));
}

absl::Status CheckTrustedDirectory(const std::string& dir, uid_t uid) {
  const fs::path path = Normalized(dir);
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(absl::StrCat("directory ", path.string(), " does not exist"));
    }
    return CannotInspect(path, errno);
  }
  if (S_ISLNK(info.st_mode)) {
    return Untrusted(absl::StrCat("directory ", path.string()),
                     "is a symlink; refusing to follow it",
                     "use the directory it points to, or replace the link with a directory");
  }
  if (!S_ISDIR(info.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path.string(), " is not a directory"));
  }
  std::string hint;
  if (std::string problem = OwnerOrModeProblem(info, uid, path.string(), &hint); !problem.empty()) {
    return Untrusted(absl::StrCat("directory ", path.string()), problem, hint);
  }
  // The directories above, as they really are: whoever may change one of them could swap it.
  char resolved[PATH_MAX];
  if (realpath(path.parent_path().c_str(), resolved) == nullptr) {
    return CannotInspect(path.parent_path(), errno);
  }
  for (fs::path above = resolved;; above = above.parent_path()) {
    if (stat(above.c_str(), &info) != 0) return CannotInspect(above, errno);
    if (std::string problem = OwnerOrModeProblem(info, uid, above.string(), &hint);
        !problem.empty()) {
      return Untrusted(absl::StrCat("directory ", above.string(), ", above ", path.string(), ","),
                       problem, hint);
    }
    if (above == above.parent_path()) break;  // "/"
  }
  return absl::OkStatus();
}

absl::Status EnsureTrustedDirectory(const std::string& dir, mode_t mode, uid_t uid) {
  const fs::path path = Normalized(dir);
  std::vector<fs::path> missing;  // deepest first
  for (fs::path at = path; at != at.parent_path(); at = at.parent_path()) {
    struct stat info {};
    if (lstat(at.c_str(), &info) == 0) break;
    if (errno != ENOENT) {
      // Most often EACCES: the reason is a directory above that is not ours.
      const int error = errno;
      absl::Status parent = CheckTrustedDirectory(at.parent_path().string(), uid);
      return parent.ok() ? CannotInspect(at, error) : parent;
    }
    missing.push_back(at);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    // A directory made inside one another user controls could be swapped for theirs.
    if (absl::Status parent = CheckTrustedDirectory(it->parent_path().string(), uid);
        !parent.ok()) {
      return parent;
    }
    if (mkdir(it->c_str(), mode) != 0) {
      if (errno == EEXIST) continue;  // made meanwhile: checked below like any existing one
      return WithHint(absl::PermissionDeniedError(absl::StrCat(
                          "cannot create directory ", it->string(), ": ", std::strerror(errno))),
                      "create it, or choose a directory this user may write to");
    }
    // mkdir's mode is reduced by the umask; set exactly the mode asked for.
    const int fd = open(it->c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0 || fchmod(fd, mode) != 0) {
      const int error = errno;
      if (fd >= 0) close(fd);
      return CannotInspect(*it, error);
    }
    close(fd);
  }
  return CheckTrustedDirectory(path.string(), uid);
}

}  // namespace llorch
