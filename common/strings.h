// Small string helpers shared by both binaries: "did you mean" suggestions for typos, UTF-8
// repair.
//
// ClosestMatch() compares case-insensitively by optimal-string-alignment distance (insertions,
// deletions, substitutions and swaps of two neighbouring characters each cost 1), so
// "modles_dir" -> "models_dir" and "agnet" -> "agent" are one edit away.
#ifndef LLORCH_COMMON_STRINGS_H_
#define LLORCH_COMMON_STRINGS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace llorch {

// Edits needed to turn `a` into `b`, ASCII case ignored; a swap of neighbours is one edit.
size_t EditDistance(absl::string_view a, absl::string_view b);

// The candidate closest to `word`, for "did you mean" hints; "" when none is close enough to be
// a plausible typo (at most max(1, word.size() / 3) edits). Ties go to the earlier candidate.
std::string ClosestMatch(absl::string_view word, const std::vector<std::string>& candidates);

// " (did you mean 'x'?)" for the closest candidate, or "" when none is close.
std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates);

// `text` with every byte that is not part of a well-formed UTF-8 sequence (RFC 3629: no overlong
// forms, no surrogates, nothing above U+10FFFF) replaced by U+FFFD. For a child's output, which
// must become a proto3 string.
std::string ToValidUtf8(absl::string_view text);

}  // namespace llorch

#endif  // LLORCH_COMMON_STRINGS_H_
