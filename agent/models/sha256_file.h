// SHA-256 of a file, read in large sequential chunks, with progress and cancellation between
// chunks (every 4 MiB: a fraction of a millisecond of hashing).
#ifndef LLORCH_AGENT_MODELS_SHA256_FILE_H_
#define LLORCH_AGENT_MODELS_SHA256_FILE_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// An incremental digest (OpenSSL EVP), for bytes that arrive in pieces: SHA-256 for file
// contents, SHA-1 for git blob ids.
class Digest {
 public:
  enum class Algorithm { kSha256, kSha1 };

  explicit Digest(Algorithm algorithm = Algorithm::kSha256);
  ~Digest();
  Digest(const Digest&) = delete;
  Digest& operator=(const Digest&) = delete;

  void Update(const void* data, size_t size);
  // Lower-case hex of everything given to Update(); call once, at the end.
  std::string HexDigest();

 private:
  void* context_;  // EVP_MD_CTX*
};

// Called after each chunk with the bytes hashed so far; returning false stops the hashing,
// which then fails with CANCELLED.
using HashProgress = std::function<bool(uint64_t bytes_done)>;

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Of(absl::string_view bytes);

// Lower-case hex SHA-256 of the file at `path` (a symlink at its last component is refused).
// NotFound when it does not exist.
absl::StatusOr<std::string> Sha256File(const std::string& path, const HashProgress& progress = {});
// The same of the open file `fd`, from its start; `name` for messages.
absl::StatusOr<std::string> Sha256OfOpenFile(int fd, absl::string_view name,
                                             const HashProgress& progress = {});

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_SHA256_FILE_H_
