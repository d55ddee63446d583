#include "client/confirm.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "common/status.h"

namespace llorch {

absl::StatusOr<bool> Confirm(absl::string_view question, absl::string_view action,
                             absl::string_view force_hint) {
  if (!isatty(STDIN_FILENO)) {
    return WithHint(
        absl::InvalidArgumentError(absl::StrCat(
            "refusing to ", action, " without confirmation, and there is no terminal to ask on")),
        absl::StrCat("run `", force_hint, "` to go ahead without asking"));
  }
  std::fprintf(stderr, "%s [y/N] ", std::string(question).c_str());
  std::fflush(stderr);
  std::string answer;
  if (!std::getline(std::cin, answer)) return false;
  return answer == "y" || answer == "Y" || answer == "yes";
}

}  // namespace llorch
