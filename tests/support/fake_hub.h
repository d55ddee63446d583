// A stand-in for the HuggingFace Hub and its CDN, speaking the real download protocol on two
// loopback ports, with faults to inject. For integration and end-to-end tests and benchmarks.
//
// The Hub port (endpoint(), what HF_ENDPOINT is set to):
//   HEAD|GET /{owner}/{name}/resolve/{revision}/{path}
//     revision is "main", the repository's commit (commit()) or one of its earlier commits
//     (each AddFile keeps the files of the commit before, as git history does, so a client
//     pinned to an old commit still gets its bytes); anything else is 404.
//     LFS file: 302 with Location = a signed CDN URL valid for `url_lifetime`, and the headers
//       X-Repo-Commit: <commit>, X-Linked-Etag: "<sha256>", X-Linked-Size: <size>,
//       ETag: "<sha256>"; no body.
//     Other file (lfs = false): 200 with ETag: "<git blob sha1>", X-Repo-Commit, Content-Length,
//       and for GET the bytes (Range honoured as on the CDN).
//     404 with X-Error-Code RepoNotFound | RevisionNotFound | EntryNotFound and an
//       X-Error-Message, as the Hub does.
//     A repository given a token with RequireToken() answers 401 (X-Error-Code GatedRepo)
//       unless the request has "Authorization: Bearer <token>".
//   GET /api/models/{owner}/{name}/tree/{revision}?recursive=true
//     JSON array of {"type":"file","oid":<git blob sha1>,"size":N,"path":P} with, for LFS files,
//     "lfs":{"oid":<sha256>,"size":N,"pointerSize":134}; plus {"type":"directory",...} entries
//     for the directories the paths imply. Same 404s and token check. As on the Hub, an LFS
//     file's "oid" and "pointerSize" are those of its LFS pointer file (134 bytes for sizes of 9
//     digits); without recursive=true only the first level is listed; /tree/{revision}/{dir}
//     lists under dir.
// The CDN port:
//   GET /{sha256}?expires=<unix milliseconds>&signature=<hex>   (the Location above)
//     200 with the whole file, or 206 with Content-Range for "Range: bytes=A-B" / "bytes=A-";
//     416 for a range beyond the end; 403 (an S3-style XML error) once expired or when the
//     signature is wrong. Never checks Authorization (a real CDN ignores it; tests assert it was
//     not sent there).
// Thread-safe; servers run on their own threads until destruction.
#ifndef LLORCH_TESTS_SUPPORT_FAKE_HUB_H_
#define LLORCH_TESTS_SUPPORT_FAKE_HUB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace llorch::testing {

// Faults the servers inject; SetFaults() replaces all of them at once. Counters ("the first N
// responses") count from the SetFaults() call.
struct FakeHubFaults {
  // The CDN closes the connection after this many body bytes of a response, for the first
  // `drop_count` CDN responses (the rest are whole). 0 = never. Only GET responses with a
  // longer body count.
  uint64_t drop_after_bytes = 0;
  int drop_count = 0;
  // The first `error_count` requests (Hub and CDN alike) answer `error_status` (500, 502, 503,
  // 429, ...) with a short body; with retry_after_seconds >= 0 also "Retry-After: <n>".
  int error_count = 0;
  int error_status = 503;
  int retry_after_seconds = -1;
  // Every response covering this file offset sends that byte flipped (xor 0xff); -1 = none.
  int64_t corrupt_offset = -1;
  // After `stall_after_bytes` body bytes the first `stall_count` CDN responses send nothing more
  // for `stall_duration` (then go on), keeping the connection open. Only GET responses with a
  // longer body count. Destroying the FakeHub ends a stall (and pacing) at once.
  uint64_t stall_after_bytes = 0;
  int stall_count = 0;
  absl::Duration stall_duration = absl::Seconds(30);
  // Each CDN response is paced to at most this many body bytes per second. 0 = unlimited.
  uint64_t bytes_per_second_per_connection = 0;
  // Every response ignores the Range header: 200 with the whole file, as some mirrors and
  // proxies answer.
  bool ignore_range = false;
  // How long the CDN URLs the Hub hands out stay valid (real Hub: about an hour).
  absl::Duration url_lifetime = absl::Hours(1);
  // The Hub's answers for LFS files redirect here instead of to the CDN ("file:///etc/passwd",
  // "gopher://..."); "" = the CDN.
  std::string redirect_location = {};
  // The Hub sends this, verbatim, as X-Linked-Size ("-5", "abc"); "" = the size.
  std::string linked_size = {};
  // The Hub announces LFS files as it does files outside LFS, by their git blob id: ETag
  // "<sha1 of 'blob <size>\0' + content>" and no X-Linked-Etag (the redirect to the CDN stays).
  bool sha1_etags = false;
  // The Hub announces every file with this ETag, verbatim, and no X-Linked-Etag; "" = the real.
  std::string etag = {};
  // Every 206 states this as the file's total in its Content-Range (the bytes sent stay the
  // real ones); 0 = the real size.
  uint64_t content_range_total = 0;
  // Every response carries this many more bytes of headers (X-Padding-<n> lines of up to 4 KiB),
  // as a misbehaving proxy might add.
  uint64_t extra_header_bytes = 0;
};

// One request as the servers saw it.
struct FakeHubRequest {
  std::string server;         // "hub" or "cdn"
  std::string method;         // "HEAD", "GET"
  std::string path;           // without the query string
  std::string range;          // the Range header; "" when none
  std::string authorization;  // the Authorization header; "" when none
  int status = 0;             // the status answered
};

class FakeHub {
 public:
  // Starts both servers on 127.0.0.1, on ports the kernel picks.
  FakeHub();
  ~FakeHub();
  FakeHub(const FakeHub&) = delete;
  FakeHub& operator=(const FakeHub&) = delete;

  // "http://127.0.0.1:<hub port>": the value for HF_ENDPOINT.
  std::string endpoint() const;
  // "http://127.0.0.1:<cdn port>".
  std::string cdn_origin() const;

  // Adds (or replaces) `path` in `repo` ("owner/name", created on first use). Replacing a file
  // changes its sha256, so a client's partial download of the old bytes must be discarded.
  void AddFile(const std::string& repo, const std::string& path, std::string content,
               bool lfs = true);
  // The repository's commit: 40 hex digits, fixed per repository name; changes with every
  // AddFile to that repository, as a real push would.
  std::string commit(const std::string& repo) const;
  // Makes `repo` gated: requests without "Authorization: Bearer <token>" get 401.
  void RequireToken(const std::string& repo, const std::string& token);

  // The Hub announces `size` as the LFS file's X-Linked-Size from now on (the CDN still serves
  // the real bytes): a file larger than any disk, for the free-space check.
  void AdvertiseSize(const std::string& repo, const std::string& path, uint64_t size);

  void SetFaults(const FakeHubFaults& faults);

  // A freshly signed CDN URL of an LFS file (what the Location header would hold), e.g. for
  // curl in a benchmark; "" when there is no such LFS file.
  std::string CdnUrl(const std::string& repo, const std::string& path) const;

  // Body bytes the CDN (and the Hub, for non-LFS files) have sent since construction or the
  // last ResetStats(), counting bytes of responses that were cut short.
  uint64_t bytes_sent() const;
  // Every request since construction or the last ResetStats(), in arrival order.
  std::vector<FakeHubRequest> requests() const;
  void ResetStats();

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_FAKE_HUB_H_
