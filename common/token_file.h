// Bearer tokens kept in files, for the agent (the tokens it accepts) and the CLI (the token it
// presents). See docs/security.md.
#ifndef LLORCH_COMMON_TOKEN_FILE_H_
#define LLORCH_COMMON_TOKEN_FILE_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// The shortest token accepted: 16 characters (`openssl rand -hex 32` makes 64).
inline constexpr size_t kMinTokenLength = 16;

// Reads the token in `path`: a regular file (a symlink as the last component is refused) that
// grants no permission to others (mode o-rwx: refused otherwise, with the chmod that fixes it),
// holding one token of at least kMinTokenLength printable ASCII characters without spaces;
// surrounding whitespace (the final newline) is ignored. `key` names the setting in messages,
// e.g. "agent.admin_token_file". Errors: InvalidArgument (with a hint), NotFound,
// PermissionDenied.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path, absl::string_view key);

// Whether `a` equals `b`, in a time that depends only on their lengths, not on where they
// differ.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

}  // namespace llorch

#endif  // LLORCH_COMMON_TOKEN_FILE_H_
