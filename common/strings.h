// Small string helpers shared by both binaries: "did you mean" suggestions for typos, UTF-8
// checks and repair.
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

// The candidates close enough to `word` to be plausible typos (as for ClosestMatch), closest
// first (ties in candidate order), at most `max`: for machine-readable suggestions.
std::vector<std::string> ClosestMatches(absl::string_view word,
                                        const std::vector<std::string>& candidates, size_t max);

// " (did you mean 'x'?)" for the closest candidate, or "" when none is close.
std::string DidYouMean(absl::string_view word, const std::vector<std::string>& candidates);

// The length (1 to 4) of the well-formed UTF-8 sequence that starts at text[i], with its code
// point in `*code_point`; 0 when the bytes there are not one (RFC 3629: no overlong forms, no
// surrogates, nothing above U+10FFFF). `i` must be < text.size().
size_t DecodeUtf8(absl::string_view text, size_t i, char32_t* code_point);

// True when all of `text` is well-formed UTF-8, as a proto3 string must be.
bool IsValidUtf8(absl::string_view text);

// `text` with every byte that is not part of a well-formed UTF-8 sequence replaced by U+FFFD:
// for bytes from elsewhere (a child's output, a file name, a GGUF string) that must become a
// proto3 string.
std::string ToValidUtf8(absl::string_view text);

// `text` in double quotes with '"', '\\' and control characters escaped (\n, \t, \u001b, ...):
// both a TOML basic string and a JSON string.
std::string QuoteEscaped(absl::string_view text);

}  // namespace llorch

#endif  // LLORCH_COMMON_STRINGS_H_
