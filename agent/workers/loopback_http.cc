#include "agent/workers/loopback_http.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"

namespace llorch {
namespace {

using Parse = HttpMessage::Parse;

// The line at `at` without its CR LF (or LF), and where the next one starts; nullopt while its end
// has not arrived.
std::optional<absl::string_view> NextLine(absl::string_view bytes, size_t& at) {
  const size_t end = bytes.find('\n', at);
  if (end == absl::string_view::npos) return std::nullopt;
  absl::string_view line = bytes.substr(at, end - at);
  if (absl::EndsWith(line, "\r")) line.remove_suffix(1);
  at = end + 1;
  return line;
}

HttpMessage Result(Parse parse) {
  HttpMessage message;
  message.parse = parse;
  return message;
}

// The chunked body starting at `at`: kComplete with the decoded body, or why not.
Parse DecodeChunked(absl::string_view bytes, size_t at, const HttpLimits& limits,
                    std::string& body) {
  for (;;) {
    std::optional<absl::string_view> size_line = NextLine(bytes, at);
    if (!size_line) return Parse::kIncomplete;
    absl::string_view digits = size_line->substr(0, size_line->find(';'));  // no extensions
    digits = absl::StripAsciiWhitespace(digits);
    uint64_t size = 0;
    if (digits.empty() || digits.size() > 16 || !absl::SimpleHexAtoi(digits, &size)) {
      return Parse::kMalformed;
    }
    if (size > limits.max_body - body.size()) return Parse::kBodyTooLarge;
    if (size == 0) {
      for (;;) {  // trailers, up to the empty line
        std::optional<absl::string_view> trailer = NextLine(bytes, at);
        if (!trailer) return Parse::kIncomplete;
        if (trailer->empty()) return Parse::kComplete;
      }
    }
    if (bytes.size() - at < size) return Parse::kIncomplete;
    body.append(bytes.data() + at, size);
    at += size;
    std::optional<absl::string_view> end = NextLine(bytes, at);
    if (!end) return Parse::kIncomplete;
    if (!end->empty()) return Parse::kMalformed;
  }
}

// ParseHttpMessage without the verdict on a peer that closed early.
HttpMessage ParseFramed(absl::string_view received, HttpMessageKind kind, bool closed,
                        const HttpLimits& limits) {
  size_t at = 0;
  std::optional<absl::string_view> start_line = NextLine(received, at);
  if (at > limits.max_head || (!start_line && received.size() > limits.max_head)) {
    return Result(Parse::kHeadTooLarge);
  }
  if (!start_line) return Result(Parse::kIncomplete);
  if (start_line->empty()) return Result(Parse::kMalformed);
  std::optional<uint64_t> content_length;
  bool chunked = false;
  for (;;) {
    std::optional<absl::string_view> line = NextLine(received, at);
    if (at > limits.max_head || (!line && received.size() > limits.max_head)) {
      return Result(Parse::kHeadTooLarge);
    }
    if (!line) return Result(Parse::kIncomplete);
    if (line->empty()) break;
    const size_t colon = line->find(':');
    if (colon == absl::string_view::npos || colon == 0) return Result(Parse::kMalformed);
    const absl::string_view name = line->substr(0, colon);
    const absl::string_view value = absl::StripAsciiWhitespace(line->substr(colon + 1));
    if (absl::EqualsIgnoreCase(name, "Content-Length")) {
      uint64_t length = 0;
      if (value.empty() || !std::all_of(value.begin(), value.end(), absl::ascii_isdigit) ||
          value.size() > 19 || !absl::SimpleAtoi(value, &length) ||
          (content_length && *content_length != length)) {
        return Result(Parse::kMalformed);
      }
      content_length = length;
    } else if (absl::EqualsIgnoreCase(name, "Transfer-Encoding")) {
      if (!absl::EqualsIgnoreCase(value, "chunked") || chunked) return Result(Parse::kUnsupported);
      chunked = true;
    }
  }
  if (chunked && content_length) return Result(Parse::kMalformed);

  HttpMessage message;
  message.start_line = std::string(*start_line);
  const absl::string_view rest = received.substr(at);
  if (chunked) {
    message.parse = DecodeChunked(received, at, limits, message.body);
    // Chunk framing costs at most a few bytes a chunk; more than the body again is an attack.
    if (message.parse == Parse::kIncomplete && rest.size() > 2 * limits.max_body + 1024) {
      message.parse = Parse::kBodyTooLarge;
    }
  } else if (content_length) {
    if (*content_length > limits.max_body) return Result(Parse::kBodyTooLarge);
    if (rest.size() < *content_length) return Result(Parse::kIncomplete);
    message.body = std::string(rest.substr(0, *content_length));
    message.parse = Parse::kComplete;
  } else if (kind == HttpMessageKind::kRequest) {
    message.parse = Parse::kComplete;  // a request without framing has no body
  } else {
    if (rest.size() > limits.max_body) return Result(Parse::kBodyTooLarge);
    if (!closed) return Result(Parse::kIncomplete);
    message.body = std::string(rest);
    message.parse = Parse::kComplete;
  }
  if (message.parse != Parse::kComplete) return Result(message.parse);
  return message;
}

}  // namespace

HttpMessage ParseHttpMessage(absl::string_view received, HttpMessageKind kind, bool closed,
                             const HttpLimits& limits) {
  HttpMessage message = ParseFramed(received, kind, closed, limits);
  if (message.parse == Parse::kIncomplete && closed) return Result(Parse::kMalformed);
  return message;
}

int HttpStatusCode(absl::string_view start_line) {
  std::vector<absl::string_view> words = absl::StrSplit(start_line, ' ', absl::SkipEmpty());
  int status = 0;
  if (words.size() < 2 || !absl::StartsWith(words[0], "HTTP/1.") || words[1].size() != 3 ||
      !absl::SimpleAtoi(words[1], &status)) {
    return 0;
  }
  return status;
}

}  // namespace llorch
