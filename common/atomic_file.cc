#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <random>

#include "absl/strings/str_cat.h"

namespace llorch {
namespace {

absl::Status ErrnoError(absl::string_view what, const std::filesystem::path& path) {
  return absl::InternalError(absl::StrCat(what, " ", path.string(), ": ", std::strerror(errno)));
}

// A new temp file beside `name`, created exclusively (never an existing file or link).
absl::StatusOr<std::pair<UniqueFd, std::string>> CreateTemp(const DirFd& dir,
                                                            absl::string_view name) {
  static constexpr char kLetters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device random;
  for (int attempt = 0;; ++attempt) {
    std::string temp = absl::StrCat(name, ".tmp-");
    for (int i = 0; i < 8; ++i) temp.push_back(kLetters[random() % (sizeof(kLetters) - 1)]);
    absl::StatusOr<UniqueFd> fd = dir.OpenFile(temp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd.ok()) return std::pair(std::move(*fd), std::move(temp));
    if (!dir.Stat(temp) || attempt >= 100) {
      return absl::Status(fd.status().code(),
                          absl::StrCat("cannot create a temporary file for ",
                                       dir.PathOf(name).string(), ": ", fd.status().message()));
    }
  }
}

}  // namespace

absl::Status WriteFileAtomically(const DirFd& dir, absl::string_view name,
                                 absl::string_view content) {
  absl::StatusOr<std::pair<UniqueFd, std::string>> temp = CreateTemp(dir, name);
  if (!temp.ok()) return temp.status();
  const auto& [fd, temp_name] = *temp;
  auto fail = [&](absl::string_view what) {
    absl::Status status = ErrnoError(what, dir.PathOf(temp_name));
    dir.Unlink(temp_name).IgnoreError();
    return status;
  };
  const char* data = content.data();
  size_t left = content.size();
  while (left > 0) {
    const ssize_t written = write(fd.get(), data, left);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return fail("cannot write");
    data += written;
    left -= static_cast<size_t>(written);
  }
  if (fchmod(fd.get(), 0644) != 0 || fsync(fd.get()) != 0) return fail("cannot sync");
  if (absl::Status status = dir.Rename(temp_name, dir, name); !status.ok()) {
    dir.Unlink(temp_name).IgnoreError();
    return status;
  }
  return dir.Sync();
}

absl::Status RenameDurably(const DirFd& dir, absl::string_view name, const DirFd& to,
                           absl::string_view to_name) {
  absl::StatusOr<UniqueFd> fd = dir.OpenRegularFile(name);
  if (!fd.ok()) return fd.status();
  if (fsync(fd->get()) != 0) return ErrnoError("cannot sync", dir.PathOf(name));
  if (absl::Status status = dir.Rename(name, to, to_name); !status.ok()) return status;
  if (absl::Status status = to.Sync(); !status.ok()) return status;
  return dir.Sync();
}

}  // namespace llorch
