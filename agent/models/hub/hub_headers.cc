#include "agent/models/hub/hub_headers.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/status.h"

namespace llorch {
namespace {

bool IsHex(absl::string_view text) {
  for (char c : text) {
    if (!absl::ascii_isxdigit(static_cast<unsigned char>(c))) return false;
  }
  return !text.empty();
}

}  // namespace

std::string HttpResponse::Header(absl::string_view name) const {
  auto it = headers.find(std::string(name));
  return it == headers.end() ? "" : it->second;
}

HeaderLine ApplyHeaderLine(absl::string_view line, long* status,
                           std::map<std::string, std::string>* headers) {
  if (absl::StripAsciiWhitespace(line).empty()) return HeaderLine::kEnd;
  if (absl::StartsWith(line, "HTTP/")) {
    headers->clear();  // a new response (after 100 Continue, say)
    std::vector<absl::string_view> words = absl::StrSplit(line, ' ', absl::SkipEmpty());
    if (words.size() < 2 || !absl::SimpleAtoi(words[1], status)) *status = 0;
    return HeaderLine::kStatus;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return HeaderLine::kOther;
  (*headers)[absl::AsciiStrToLower(line.substr(0, colon))] =
      std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  return HeaderLine::kField;
}

std::optional<ContentRange> ParseContentRange(absl::string_view header) {
  if (!absl::ConsumePrefix(&header, "bytes ")) return std::nullopt;
  const size_t dash = header.find('-');
  const size_t slash = header.find('/');
  if (dash == absl::string_view::npos || slash == absl::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  ContentRange range;
  if (!absl::SimpleAtoi(header.substr(0, dash), &range.first) ||
      !absl::SimpleAtoi(header.substr(dash + 1, slash - dash - 1), &range.last) ||
      range.last < range.first) {
    return std::nullopt;
  }
  const absl::string_view total = header.substr(slash + 1);
  if (total != "*") {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(total, &value)) return std::nullopt;
    range.total = value;
  }
  return range;
}

std::string NormalizeEtag(absl::string_view etag) {
  etag = absl::StripAsciiWhitespace(etag);
  if (absl::StartsWith(etag, "W/")) etag.remove_prefix(2);
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') {
    etag = etag.substr(1, etag.size() - 2);
  }
  return std::string(etag);
}

std::string NextLink(absl::string_view link) {
  for (absl::string_view part : absl::StrSplit(link, ',')) {
    if (!absl::StrContains(part, "rel=\"next\"")) continue;
    const size_t open = part.find('<');
    const size_t close = part.find('>');
    if (open != absl::string_view::npos && close != absl::string_view::npos && close > open) {
      return std::string(part.substr(open + 1, close - open - 1));
    }
  }
  return "";
}

std::string QuoteHeader(absl::string_view value) {
  constexpr size_t kMaxQuoted = 80;
  const bool cut = value.size() > kMaxQuoted;
  return absl::StrCat("\"", absl::CHexEscape(value.substr(0, kMaxQuoted)), cut ? "...\"" : "\"");
}

absl::Status HubBadAnswer(const std::string& message, const HubOptions& options,
                          absl::string_view reason, absl::string_view what_proxies_do) {
  return WithReason(
      WithHint(absl::FailedPreconditionError(message),
               absl::StrCat("is HF_ENDPOINT (", options.endpoint,
                            ") a Hugging Face Hub? a mirror or proxy in between may also ",
                            what_proxies_do, "; asking again would get the same")),
      reason);
}

FileHashes HubDigestOfEtag(absl::string_view etag) {
  FileHashes digest;
  if (!IsHex(etag)) return digest;
  if (etag.size() == 64) digest.sha256 = absl::AsciiStrToLower(etag);
  if (etag.size() == 40) digest.git_sha1 = absl::AsciiStrToLower(etag);
  return digest;
}

absl::StatusOr<RemoteFile> FileFromHeaders(const HttpResponse& response, const HubOptions& options,
                                           RemoteFile file) {
  const std::string which =
      absl::StrCat(file.path, " of ", file.repo, " at revision ", file.revision);
  file.commit = response.Header("x-repo-commit");
  std::string etag = response.Header("x-linked-etag");
  if (etag.empty()) etag = response.Header("etag");
  file.etag = NormalizeEtag(etag);
  std::string size_header = "X-Linked-Size";
  std::string size = response.Header("x-linked-size");
  if (size.empty() && response.headers.count("x-linked-size") == 0) {
    size_header = "Content-Length";
    size = response.Header("content-length");
  }
  std::string missing;
  if (file.commit.empty()) missing = "X-Repo-Commit";
  if (file.etag.empty()) missing = "ETag";
  if (size.empty()) missing = size_header;
  if (!missing.empty()) {
    return HubBadAnswer(
        absl::StrCat("the Hub's answer for ", which, " has no ", missing, " header"), options);
  }
  if (!absl::ascii_isdigit(static_cast<unsigned char>(size.front())) ||
      !absl::SimpleAtoi(size, &file.size)) {
    return HubBadAnswer(
        absl::StrCat("the Hub's answer for ", which, " has an invalid ", size_header, " header (",
                     QuoteHeader(size), "): not a byte count"),
        options);
  }
  const FileHashes digest = HubDigestOfEtag(file.etag);
  if (digest.sha256.empty() && digest.git_sha1.empty()) {
    return HubBadAnswer(absl::StrCat("the Hub's etag for ", which, " is ", QuoteHeader(file.etag),
                                     ": neither a SHA-256 (LFS files) nor a git blob id (other "
                                     "files); nothing could verify its bytes, so none are fetched"),
                        options, reasons::kHubNoDigest, "rewrite ETag and X-Linked-Etag headers");
  }
  file.sha256 = digest.sha256;
  file.git_sha1 = digest.git_sha1;
  return file;
}

}  // namespace llorch
