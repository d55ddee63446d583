// Human-readable quantities for tables, progress lines and messages.
#ifndef LLORCH_COMMON_UNITS_H_
#define LLORCH_COMMON_UNITS_H_

#include <cstdint>
#include <string>

namespace llorch {

// Decimal units as the Hub shows them: 999 B, 1.5 kB, 669 MB, 14.0 GB. Three significant digits.
std::string FormatBytes(uint64_t bytes);

// A count and its noun, plural unless the count is 1: "1 file", "2 files", "0 models". `plural`
// when the noun does not just take an "s".
std::string Plural(uint64_t count, const std::string& noun, const std::string& plural = "");

}  // namespace llorch

#endif  // LLORCH_COMMON_UNITS_H_
