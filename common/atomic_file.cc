#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <random>
#include <string>

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

// Creates a temp file beside `name`, lets `fill` write it (errno set when it fails), then syncs
// it and renames it over `name`.
absl::Status ReplaceAtomically(const DirFd& dir, absl::string_view name,
                               const std::function<bool(int fd)>& fill) {
  absl::StatusOr<std::pair<UniqueFd, std::string>> temp = CreateTemp(dir, name);
  if (!temp.ok()) return temp.status();
  const UniqueFd& fd = temp->first;
  const std::string& temp_name = temp->second;  // not a structured binding: clang 14 (the fuzz
                                                // preset) cannot capture one in a lambda
  auto fail = [&](absl::string_view what) {
    absl::Status status = ErrnoError(what, dir.PathOf(temp_name));
    dir.Unlink(temp_name).IgnoreError();
    return status;
  };
  if (!fill(fd.get())) return fail("cannot write");
  if (fchmod(fd.get(), 0644) != 0 || fsync(fd.get()) != 0) return fail("cannot sync");
  if (absl::Status status = dir.Rename(temp_name, dir, name); !status.ok()) {
    dir.Unlink(temp_name).IgnoreError();
    return status;
  }
  return dir.Sync();
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = write(fd, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

}  // namespace

absl::Status WriteFileAtomically(const DirFd& dir, absl::string_view name,
                                 absl::string_view content) {
  return ReplaceAtomically(
      dir, name, [content](int fd) { return WriteAll(fd, content.data(), content.size()); });
}

absl::StatusOr<uint64_t> CopyFileAtomically(int source, const DirFd& dir, absl::string_view name,
                                            const std::function<absl::Status()>& after_read) {
  uint64_t copied = 0;
  absl::Status after = absl::OkStatus();
  absl::Status status = ReplaceAtomically(dir, name, [&](int fd) {
    std::string buffer(256 << 10, '\0');
    while (true) {
      const ssize_t n = pread(source, buffer.data(), buffer.size(), static_cast<off_t>(copied));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return false;
      if (n == 0) break;
      if (!WriteAll(fd, buffer.data(), static_cast<size_t>(n))) return false;
      copied += static_cast<uint64_t>(n);
    }
    if (after_read) after = after_read();
    return true;
  });
  if (!after.ok()) return after;
  if (!status.ok()) return status;
  return copied;
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
