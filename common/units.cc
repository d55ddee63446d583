#include "common/units.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace llorch {

std::string FormatBytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB", "PB"};
  if (bytes < 1000) return absl::StrFormat("%d B", bytes);
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 999.5 && unit < 5) {
    value /= 1000.0;
    ++unit;
  }
  if (value >= 99.95) return absl::StrFormat("%.0f %s", value, kUnits[unit]);
  if (value >= 9.995) return absl::StrFormat("%.1f %s", value, kUnits[unit]);
  return absl::StrFormat("%.2f %s", value, kUnits[unit]);
}

std::string Plural(uint64_t count, const std::string& noun, const std::string& plural) {
  if (count == 1) return "1 " + noun;
  return absl::StrCat(count, " ", plural.empty() ? noun + "s" : plural);
}

}  // namespace llorch
