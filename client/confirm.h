// Asking before a command destroys something (a model's files, local git changes, untracked
// files), the same way everywhere.
#ifndef LLORCH_CLIENT_CONFIRM_H_
#define LLORCH_CLIENT_CONFIRM_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// On a terminal, asks "<question> [y/N]" on stderr and returns true only for an explicit yes.
// Without a terminal on stdin nobody can answer: InvalidArgument "refusing to <action> without
// confirmation, and there is no terminal to ask on", with `force_hint` (the command with
// --force) as the hint.
absl::StatusOr<bool> Confirm(absl::string_view question, absl::string_view action,
                             absl::string_view force_hint);

}  // namespace llorch

#endif  // LLORCH_CLIENT_CONFIRM_H_
