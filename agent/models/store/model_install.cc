#include "agent/models/store/model_install.h"

#include <algorithm>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/models/store/gguf_reader.h"
#include "agent/models/hub/hub_client.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace v1 = pool::v1;

ByteProgress::ByteProgress(Operation& op, absl::string_view phase, uint64_t total,
                           absl::string_view item, Operation::Clock clock)
    : op_(op), clock_(std::move(clock)) {
  progress_.set_phase(std::string(phase));
  progress_.set_unit(v1::PROGRESS_UNIT_BYTES);
  progress_.set_total(total);
  progress_.set_current_item(std::string(item));
}

void ByteProgress::Report(uint64_t done) {
  const absl::Time now = clock_();
  if (progress_.total() > 0 && done > progress_.total()) progress_.set_total(0);
  progress_.set_done(done);
  progress_.clear_eta();
  samples_.emplace_back(now, done);
  while (samples_.size() > 2 && now - samples_[1].first >= kRateWindow) samples_.pop_front();
  const double seconds = absl::ToDoubleSeconds(now - samples_.front().first);
  if (seconds > 0) {
    const double rate = static_cast<double>(done - std::min(done, samples_.front().second)) /
                        seconds;
    progress_.set_rate_per_second(rate);
    if (rate > 0 && progress_.total() > done) {
      progress_.mutable_eta()->set_seconds(
          static_cast<int64_t>(static_cast<double>(progress_.total() - done) / rate));
    }
  }
  op_.ReportProgress(progress_);
}

absl::StatusOr<FileHashes> HashWithProgress(const DirFd& dir, const std::string& name,
                                            uint64_t size, absl::string_view item, Operation& op,
                                            bool git_blob_id) {
  const std::string path = dir.PathOf(name).string();
  op.Log(
      v1::LogLine::STREAM_AGENT,
      absl::StrCat("computing the SHA-256", git_blob_id ? " and git blob id" : "", " of ", path));
  absl::StatusOr<UniqueFd> fd = dir.OpenRegularFile(name);
  if (!fd.ok()) return fd.status();
  ByteProgress progress(op, "hash", size, item);
  absl::StatusOr<FileHashes> hashes =
      HashOpenFile(fd->get(), path, git_blob_id, [&](uint64_t done) {
        progress.Report(done);
        return !op.cancel_requested();
      });
  if (hashes.ok() && size == 0) progress.Report(0);
  return hashes;
}

absl::StatusOr<std::string> CheckAgainstHub(absl::string_view file, const FileHashes& computed,
                                            absl::string_view hub_etag) {
  const FileHashes hub = HubDigestOfEtag(hub_etag);
  const bool by_sha256 = !hub.sha256.empty();
  const std::string& expected = by_sha256 ? hub.sha256 : hub.git_sha1;
  const std::string& actual = by_sha256 ? computed.sha256 : computed.git_sha1;
  if (expected.empty()) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(absl::StrCat(
                     "the Hub's etag for ", file, " (", absl::CHexEscape(hub_etag),
                     ") is neither a SHA-256 nor a git blob id: nothing vouches for its bytes")),
                 "download it from the Hub itself, or through a mirror that passes its ETag "
                 "and X-Linked-Etag headers through"),
        reasons::kHubNoDigest);
  }
  if (actual == expected) return std::string(by_sha256 ? kVerifiedBySha256 : kVerifiedByGitSha1);
  return WithReason(
      WithHint(absl::DataLossError(absl::StrCat(
                   by_sha256 ? "SHA-256" : "git blob id", " mismatch for ", file,
                   ": the downloaded bytes hash to ", actual.empty() ? "(not computed)" : actual,
                   ", the Hub says ", expected, "; nothing was installed")),
               "download it again; if it repeats, a proxy or the Hub's CDN serves corrupt bytes"),
      reasons::kHashMismatch);
}

absl::Status CheckGguf(const DirFd& dir, const std::string& name, absl::string_view produced_by) {
  absl::StatusOr<UniqueFd> fd = dir.OpenRegularFile(name);
  absl::StatusOr<GgufSummary> gguf =
      fd.ok() ? ReadGgufSummaryOfOpenFile(fd->get(), dir.PathOf(name).string())
              : absl::StatusOr<GgufSummary>(fd.status());
  if (gguf.ok()) return absl::OkStatus();
  return absl::DataLossError(absl::StrCat(produced_by, " produced a file that is not a valid GGUF ",
                                          "model: ", gguf.status().message()));
}

int64_t NowUnixSeconds() { return absl::ToUnixSeconds(absl::Now()); }

}  // namespace llorch
