// SHA-256 of a file, read in large sequential chunks, with progress and cancellation between
// chunks (every 4 MiB: a fraction of a millisecond of hashing).
#ifndef LLORCH_AGENT_MODELS_SHA256_FILE_H_
#define LLORCH_AGENT_MODELS_SHA256_FILE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"

namespace llorch {

// Called after each chunk with the bytes hashed so far; returning false stops the hashing,
// which then fails with CANCELLED.
using HashProgress = std::function<bool(uint64_t bytes_done)>;

// Lower-case hex SHA-256 of the file at `path`. NotFound when it does not exist.
absl::StatusOr<std::string> Sha256File(const std::string& path, const HashProgress& progress = {});

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_SHA256_FILE_H_
