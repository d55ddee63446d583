// The parts of HTTP answers the Hub client reads, as pure functions of the text (so that they
// are unit-tested and fuzzed, fuzz/hub_headers_fuzz.cc): header lines as libcurl hands them
// over, the Hub's file headers (X-Repo-Commit, X-Linked-Etag / ETag, X-Linked-Size /
// Content-Length), Content-Range, and the Link header of a paginated listing.
#ifndef LLORCH_AGENT_MODELS_HUB_HUB_HEADERS_H_
#define LLORCH_AGENT_MODELS_HUB_HUB_HEADERS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/models/hub/hub_client.h"
#include "common/error_reasons.h"

namespace llorch {

// What one raw header line (with its CRLF) is.
enum class HeaderLine { kEnd, kStatus, kField, kOther };

// Applies one raw header line to `status` and `headers`: a status line ("HTTP/1.1 302 Found")
// starts a new response (its headers cleared; status 0 when unreadable), "Name: value" sets
// headers[lower-case name] to the trimmed value (the last of a repeated header wins), a blank
// line ends the headers, anything else is ignored.
HeaderLine ApplyHeaderLine(absl::string_view line, long* status,
                           std::map<std::string, std::string>* headers);

// "bytes A-B/T" or "bytes A-B/*" (A <= B); nullopt for anything else.
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<uint64_t> total;
};
std::optional<ContentRange> ParseContentRange(absl::string_view header);

// "W/\"abc\"" -> "abc"
std::string NormalizeEtag(absl::string_view etag);

// The target of a `Link: <url>; rel="next"` header; "" when there is none.
std::string NextLink(absl::string_view link);

// A header's value as a message quotes it: escaped, and cut short.
std::string QuoteHeader(absl::string_view value);

// An answer of the Hub's that no retry can make right; `reason` HUB_BAD_ANSWER unless said.
absl::Status HubBadAnswer(const std::string& message, const HubOptions& options,
                          absl::string_view reason = reasons::kHubBadAnswer,
                          absl::string_view what_proxies_do = "alter answers");

// `file` (repo, revision, path and url set) completed from the headers of the Hub's answer to
// HEAD .../resolve/...: commit, etag, size and the digest the etag names. A missing header, a
// size that is no byte count or an etag that is no digest is FailedPrecondition (reasons
// HUB_BAD_ANSWER, HUB_NO_DIGEST).
absl::StatusOr<RemoteFile> FileFromHeaders(const HttpResponse& response, const HubOptions& options,
                                           RemoteFile file);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_HUB_HEADERS_H_
