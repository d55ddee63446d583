// Logging setup shared by both binaries: spdlog to stderr, level by name.
#ifndef LLORCH_COMMON_LOGGING_H_
#define LLORCH_COMMON_LOGGING_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

// Sends the default spdlog logger to stderr at `level` (trace, debug, info, warn, error, off).
// Returns InvalidArgument for an unknown level name.
absl::Status SetupLogging(absl::string_view level);

}  // namespace llorch

#endif  // LLORCH_COMMON_LOGGING_H_
