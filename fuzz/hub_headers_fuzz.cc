// The Hub client's reading of HTTP answers on any header block (lines as libcurl hands them
// over): the header lines, the Hub's file headers, Content-Range, Retry-After and Link. No
// crash, and what is accepted is what the protocol allows.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

#include "absl/time/time.h"
#include "agent/models/hub/http_client.h"
#include "agent/models/hub/hub_headers.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  llorch::HttpResponse response;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const size_t length = end == absl::string_view::npos ? text.size() : end + 1;
    llorch::ApplyHeaderLine(text.substr(0, length), &response.status, &response.headers);
    text.remove_prefix(length);
  }
  for (const auto& [name, value] : response.headers) {
    for (const char c : name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), "header names are lower case");
  }

  llorch::RemoteFile file;
  file.repo = "owner/name";
  file.revision = "main";
  file.path = "model.gguf";
  const absl::StatusOr<llorch::RemoteFile> resolved =
      llorch::FileFromHeaders(response, llorch::HubOptions{}, file);
  if (resolved.ok()) {
    FUZZ_CHECK(!resolved->commit.empty() && !resolved->etag.empty(), "commit and etag are set");
    FUZZ_CHECK((resolved->sha256.size() == 64) != (resolved->git_sha1.size() == 40),
               "exactly one digest is set");
  }

  const std::string range = response.Header("content-range");
  for (const absl::string_view header :
       {absl::string_view(range), absl::string_view(reinterpret_cast<const char*>(data), size)}) {
    if (const auto parsed = llorch::ParseContentRange(header)) {
      FUZZ_CHECK(parsed->first <= parsed->last, "a range's first byte is not after its last");
    }
  }
  const absl::Time now = absl::FromUnixSeconds(1764849600);  // 2025-12-04 12:00:00 UTC
  if (const auto wait = llorch::ParseRetryAfter(response.Header("retry-after"), now)) {
    FUZZ_CHECK(*wait >= absl::ZeroDuration(), "Retry-After is never negative");
  }
  llorch::NextLink(response.Header("link"));
  llorch::HubDigestOfEtag(llorch::NormalizeEtag(response.Header("etag")));
  return 0;
}
