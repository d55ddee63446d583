// Human-readable quantities for tables, progress lines and messages.
#ifndef LLORCH_COMMON_UNITS_H_
#define LLORCH_COMMON_UNITS_H_

#include <cstdint>
#include <string>

namespace llorch {

// Decimal units as the Hub shows them: 999 B, 1.5 kB, 669 MB, 14.0 GB. Three significant digits.
std::string FormatBytes(uint64_t bytes);

}  // namespace llorch

#endif  // LLORCH_COMMON_UNITS_H_
