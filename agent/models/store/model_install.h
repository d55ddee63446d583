// What the download paths share once bytes of a model file are on disk: byte progress, the
// hashing pass, the check against the Hub's digest, the GGUF check and the manifest.
#ifndef LLORCH_AGENT_MODELS_STORE_MODEL_INSTALL_H_
#define LLORCH_AGENT_MODELS_STORE_MODEL_INSTALL_H_

#include <cstdint>
#include <deque>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/models/store/model_store.h"
#include "agent/models/store/sha256_file.h"
#include "agent/ops/child_output_log.h"
#include "agent/ops/operation.h"
#include "common/dir_fd.h"

namespace llorch {

// Byte progress for one phase, with the rate of the last few seconds and the time left at that
// rate (so a resumed download's kept bytes do not count as speed, and a stall shows).
class ByteProgress {
 public:
  // `total` 0 = unknown.
  ByteProgress(Operation& op, absl::string_view phase, uint64_t total, absl::string_view item,
               Operation::Clock clock = absl::Now);
  // `done` beyond an estimated total makes the total unknown rather than over 100 %.
  void Report(uint64_t done);

 private:
  static constexpr absl::Duration kRateWindow = absl::Seconds(3);

  Operation& op_;
  const Operation::Clock clock_;
  pool::v1::Progress progress_;
  std::deque<std::pair<absl::Time, uint64_t>> samples_;  // (time, done), oldest first
};

// SHA-256 of the regular file `name` in `dir` (`size` bytes; never through a symlink), and its
// git blob id when `git_blob_id`, as phase "hash" of `op`; CANCELLED when `op` is cancelled.
absl::StatusOr<FileHashes> HashWithProgress(const DirFd& dir, const std::string& name,
                                            uint64_t size, absl::string_view item, Operation& op,
                                            bool git_blob_id = false);

// Checks what the bytes of `file` hash to (`computed`, with the git blob id when the Hub's
// digest is one) against the Hub's digest, as its etag gives it (HubDigestOfEtag), and says
// which digest vouched: kVerifiedBySha256 or kVerifiedByGitSha1. DataLoss, reason
// HASH_MISMATCH, naming both digests, when they differ (the caller installs nothing);
// FailedPrecondition, reason HUB_NO_DIGEST, when the etag is no digest: nothing vouches for
// the bytes.
absl::StatusOr<std::string> CheckAgainstHub(absl::string_view file, const FileHashes& computed,
                                            absl::string_view hub_etag);

// OK when the regular file `name` in `dir` starts with a valid GGUF header, else DataLoss naming
// the file and the fault.
absl::Status CheckGguf(const DirFd& dir, const std::string& name, absl::string_view produced_by);

// The current time in unix seconds, for Manifest::downloaded_at.
int64_t NowUnixSeconds();

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_STORE_MODEL_INSTALL_H_
