// The digests a file's bytes are checked by: SHA-256 (the Hub's id of an LFS file, and what a
// manifest records), and the git blob id (the Hub's id of a file outside LFS). Files are read in
// large sequential chunks, with progress and cancellation between chunks (every 4 MiB: a
// fraction of a millisecond of hashing).
#ifndef LLORCH_AGENT_MODELS_STORE_SHA256_FILE_H_
#define LLORCH_AGENT_MODELS_STORE_SHA256_FILE_H_

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

// The id git gives a blob of `size` bytes: SHA-1 of "blob <size>\0" and then the bytes, fed
// as they arrive. The one implementation: downloads compute it while the bytes stream in.
class GitBlobDigest {
 public:
  explicit GitBlobDigest(uint64_t size);
  void Update(const void* data, size_t size) { sha1_.Update(data, size); }
  // Lower-case hex; call once, after exactly `size` bytes.
  std::string HexDigest() { return sha1_.HexDigest(); }

 private:
  Digest sha1_{Digest::Algorithm::kSha1};
};

// What a file's bytes hash to.
struct FileHashes {
  std::string sha256;    // lower-case hex
  std::string git_sha1;  // lower-case hex git blob id; "" unless asked for
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
// Its SHA-256, and its git blob id when `git_blob_id`, in one pass.
absl::StatusOr<FileHashes> HashOpenFile(int fd, absl::string_view name, bool git_blob_id,
                                        const HashProgress& progress = {});

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_STORE_SHA256_FILE_H_
