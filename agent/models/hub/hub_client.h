// The HuggingFace Hub's metadata protocol: where a file's bytes are and what they must hash to,
// and which files a repository holds. The bytes themselves are fetched by file_download.h.
//
//   HEAD {endpoint}/{repo}/resolve/{revision}/{path}   (Accept-Encoding: identity)
//     -> X-Repo-Commit, X-Linked-Etag (an LFS file's SHA-256) or ETag, X-Linked-Size or
//        Content-Length, and usually a 302 to a CDN URL signed for about an hour.
//   GET {endpoint}/api/models/{repo}/tree/{revision}?recursive=true
//     -> [{type, path, size, oid, lfs: {oid, size}}], paginated by a Link: <...>; rel="next".
// Redirects to the Hub's own origin (relative ones: renamed repositories, cached resolves) are
// followed; one to another http(s) host is where the bytes are; one to any other scheme is
// refused. The token goes only to the Hub's origin, never to the CDN's. What may pass on a retry
// (network errors, stalls, 5xx, 429) is retried (RetryPolicy); an answer that cannot be right
// (reason HUB_BAD_ANSWER) is not. With offline set nothing touches the network. Thread-safe:
// every call uses its own connection.
#ifndef LLORCH_AGENT_MODELS_HUB_HUB_CLIENT_H_
#define LLORCH_AGENT_MODELS_HUB_HUB_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/models/hub/http_client.h"
#include "agent/models/store/sha256_file.h"
#include "common/paths.h"

namespace llorch {

struct HubOptions {
  std::string endpoint = "https://huggingface.co";  // no trailing slash
  std::string token;                                // "" = anonymous
  std::string token_source;  // where the token came from, for messages: "HF_TOKEN", a file
  bool offline = false;      // HF_HUB_OFFLINE: no network at all
  absl::Duration connect_timeout = absl::Seconds(10);
  absl::Duration stall_timeout = absl::Seconds(30);
  RetryPolicy retry;
};

// The options the environment asks for, as the official client reads it: HF_ENDPOINT;
// HF_TOKEN, else the file `hf auth login` writes ($HF_TOKEN_PATH, else $HF_HOME/token, HF_HOME
// defaulting to $XDG_CACHE_HOME/huggingface, that to ~/.cache); HF_HUB_OFFLINE=1|true|yes|on.
HubOptions HubOptionsFromEnvironment(const Environment& env);

// One file as the Hub describes it at a revision.
struct RemoteFile {
  std::string repo;
  std::string revision;
  std::string path;
  std::string commit;  // the full commit sha the revision resolved to
  std::string etag;    // unquoted
  // What the etag says the bytes hash to (HubDigestOfEtag): exactly one of the two is set.
  std::string sha256;    // lower-case hex: the file's SHA-256 (LFS files)
  std::string git_sha1;  // lower-case hex: the file's git blob id (files outside LFS)
  uint64_t size = 0;
  std::string url;  // where to GET the bytes: the CDN URL, or the resolve URL itself
};

// One file of a repository listing.
struct RemoteTreeEntry {
  std::string path;
  uint64_t size = 0;
  std::string blob_id;  // git blob sha1 ("oid")
  std::string sha256;   // lfs.oid for LFS files, else ""
};

// What a Hub etag (unquoted) says a file's bytes hash to: 64 hex digits are an LFS file's SHA-256,
// 40 the git blob id of a file outside LFS; lower-cased. Any other etag vouches for nothing:
// both empty.
FileHashes HubDigestOfEtag(absl::string_view etag);

class HubClient {
 public:
  using Cancelled = std::function<bool()>;
  // Told about every retry: what failed and how long the client waits.
  using RetryLog = std::function<void(absl::string_view why, absl::Duration wait)>;

  explicit HubClient(HubOptions options);

  const HubOptions& options() const { return options_; }

  // The file's metadata and download URL. Errors name repo, file and revision: NotFound
  // (reason HUB_NOT_FOUND; repository, revision or file missing), PermissionDenied (401/403:
  // gated or private; the hint says what to do about the token), FailedPrecondition (offline,
  // reason HUB_OFFLINE; an etag that is no digest, reason HUB_NO_DIGEST: the bytes could not be
  // verified; an answer lacking the commit, etag or size, with an invalid size, or redirecting
  // to a scheme other than http(s), reason HUB_BAD_ANSWER), Unavailable (network, 5xx, 429
  // after the retries), Cancelled.
  absl::StatusOr<RemoteFile> Resolve(const std::string& repo, const std::string& revision,
                                     const std::string& path, const Cancelled& cancelled = {},
                                     const RetryLog& on_retry = {}) const;

  // Every file of the repository at `revision`, directories left out. Errors as for Resolve.
  absl::StatusOr<std::vector<RemoteTreeEntry>> ListFiles(const std::string& repo,
                                                         const std::string& revision,
                                                         const Cancelled& cancelled = {},
                                                         const RetryLog& on_retry = {}) const;

  // The headers every request to `url` carries: the token, only when `url` is on the Hub's
  // origin.
  std::vector<std::string> HeadersFor(absl::string_view url) const;

  // FailedPrecondition (reason HUB_OFFLINE) naming `what` when offline; OK otherwise.
  absl::Status CheckOnline(absl::string_view what) const;

 private:
  // The answer to a request of the Hub, retried as the policy says.
  absl::StatusOr<HttpResponse> Ask(const std::string& method, const std::string& url,
                                   const Cancelled& cancelled, const RetryLog& on_retry) const;

  HubOptions options_;
  std::string origin_;  // UrlOrigin(endpoint)
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_HUB_CLIENT_H_
