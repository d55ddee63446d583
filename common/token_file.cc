#include "common/token_file.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/file_read.h"
#include "common/status.h"

namespace llorch {

absl::StatusOr<std::string> ReadTokenFile(const std::string& path, absl::string_view key) {
  FileReadOptions options;
  options.max_bytes = 4096;
  options.follow_symlinks = false;
  options.what = "token file";
  absl::StatusOr<std::string> text = ReadRegularFile(path, options);
  if (!text.ok()) return WithPrefix(text.status(), key);
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, ": ", path, " changed while it was read; try again"));
  }
  if (absl::Status others = RefuseOthersPermissions(
          path, key, "a token file",
          absl::StrCat("chmod 600 ", path, " (or 640 with a group that needs it)"));
      !others.ok()) {
    return others;
  }
  const absl::string_view token = absl::StripAsciiWhitespace(*text);
  bool printable = !token.empty();
  for (const char c : token) printable = printable && c > ' ' && c < 0x7f;
  if (!printable || token.size() < kMinTokenLength) {
    return WithHint(absl::InvalidArgumentError(
                        absl::StrCat(key, ": ", path, " must hold one token of at least ",
                                     kMinTokenLength, " printable characters without spaces")),
                    absl::StrCat("make one with: (umask 077; openssl rand -hex 32 > ", path, ")"));
  }
  return std::string(token);
}

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Every byte of the longer string is looked at, whatever the shorter one holds.
  const size_t length = a.size() > b.size() ? a.size() : b.size();
  unsigned char difference = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < length; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    difference |= static_cast<unsigned char>(x ^ y);
  }
  // A volatile read keeps the compiler from turning the loop into an early exit.
  volatile unsigned char result = difference;
  return result == 0;
}

}  // namespace llorch
