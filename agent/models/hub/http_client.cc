#include "agent/models/hub/http_client.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/models/hub/curl_library.h"
#include "agent/models/hub/hub_headers.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/version.h"

namespace llorch {
namespace {

// How much of an error response's body is kept when the caller streams bodies.
constexpr size_t kErrorBodyBytes = 64 << 10;

// What the callbacks of one exchange share.
struct Exchange {
  const HttpRequest& request;
  HttpResponse& response;
  // steady_clock, not absl::Now(): this is read and set for every piece of a body, and
  // absl::Now() cost a downloading thread 8% of its time.
  std::chrono::steady_clock::time_point last_byte;
  long status = 0;  // of the response being received, from its status line
  bool cancelled = false;
  bool stalled = false;
  bool refused = false;
  bool too_big = false;
  size_t header_bytes = 0;
  bool headers_too_big = false;
  absl::Status rejected = absl::OkStatus();  // on_headers' verdict
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto& exchange = *static_cast<Exchange*>(user);
  const size_t length = size * count;
  exchange.last_byte = std::chrono::steady_clock::now();
  exchange.header_bytes += length;
  if (exchange.header_bytes > kMaxHeaderBytes) {
    exchange.headers_too_big = true;
    return 0;
  }
  if (ApplyHeaderLine(absl::string_view(data, length), &exchange.status,
                      &exchange.response.headers) == HeaderLine::kEnd &&
      exchange.request.on_headers && exchange.status >= 200 && exchange.status < 300) {
    exchange.rejected = exchange.request.on_headers(exchange.status, exchange.response);
    if (!exchange.rejected.ok()) return 0;
  }
  return length;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto& exchange = *static_cast<Exchange*>(user);
  const size_t length = size * count;
  exchange.last_byte = std::chrono::steady_clock::now();
  exchange.response.body_bytes += length;
  // Only a successful response's body is the payload; an error's is kept for the message.
  if (exchange.request.on_body && exchange.status >= 200 && exchange.status < 300) {
    const bool taken = exchange.request.on_body(exchange.status, data, length);
    exchange.last_byte =
        std::chrono::steady_clock::now();  // time the receiver spent in on_body is no stall
    if (taken) return length;
    exchange.refused = true;
    return 0;
  }
  const size_t limit = exchange.request.on_body ? kErrorBodyBytes : exchange.request.max_body_bytes;
  if (exchange.response.body.size() + length > limit) {
    if (exchange.request.on_body) return length;  // the rest of an error page: not needed
    exchange.too_big = true;
    return 0;
  }
  exchange.response.body.append(data, length);
  return length;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto& exchange = *static_cast<Exchange*>(user);
  if (exchange.request.cancelled && exchange.request.cancelled()) {
    exchange.cancelled = true;
    return 1;
  }
  if (std::chrono::steady_clock::now() - exchange.last_byte >
      absl::ToChronoNanoseconds(exchange.request.stall_timeout)) {
    exchange.stalled = true;
    return 1;
  }
  return 0;
}

// A failure no retry can mend: the request or the answer is wrong.
absl::Status Final(const std::string& message, absl::string_view hint) {
  return WithReason(WithHint(absl::FailedPreconditionError(message), hint), reasons::kHubBadAnswer);
}

long Millis(absl::Duration duration) {
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(duration)));
}

}  // namespace

HttpConnection::HttpConnection() {
  absl::StatusOr<const CurlLibrary*> library = Curl();
  curl_ = library.ok() ? (*library)->easy_init() : nullptr;
}

HttpConnection::~HttpConnection() {
  if (curl_ != nullptr) (*Curl())->easy_cleanup(static_cast<CURL*>(curl_));
}

absl::StatusOr<HttpResponse> HttpConnection::Perform(const HttpRequest& request) {
  absl::StatusOr<const CurlLibrary*> library = Curl();
  if (!library.ok()) return library.status();
  const CurlLibrary& lib = **library;
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) return absl::InternalError("cannot initialise libcurl");
  const std::string what = absl::StrCat(request.method, " ", UrlForDisplay(request.url));
  HttpResponse response;
  Exchange exchange{request, response, std::chrono::steady_clock::now()};
  char error[CURL_ERROR_SIZE] = "";
  curl_slist* headers = nullptr;
  for (const std::string& header : request.headers) {
    headers = lib.slist_append(headers, header.c_str());
  }
  static const std::string user_agent = absl::StrCat("llorch-pool/", kVersion);

  // Reset keeps the connection cache: the next request to the same host reuses the socket.
  lib.easy_reset(curl);
  lib.easy_setopt(curl, CURLOPT_URL, request.url.c_str());
  lib.easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  lib.easy_setopt(curl, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  lib.easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  lib.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  lib.easy_setopt(curl, CURLOPT_USERAGENT, user_agent.c_str());
  lib.easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, Millis(request.connect_timeout));
  lib.easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  lib.easy_setopt(curl, CURLOPT_BUFFERSIZE, 512L << 10);  // fewer, larger writes
  lib.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  lib.easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  if (request.method == "HEAD") lib.easy_setopt(curl, CURLOPT_NOBODY, 1L);
  if (!request.range.empty()) lib.easy_setopt(curl, CURLOPT_RANGE, request.range.c_str());
  lib.easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
  lib.easy_setopt(curl, CURLOPT_HEADERDATA, &exchange);
  lib.easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
  lib.easy_setopt(curl, CURLOPT_WRITEDATA, &exchange);
  lib.easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
  lib.easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
  lib.easy_setopt(curl, CURLOPT_XFERINFODATA, &exchange);
  const CURLcode code = lib.easy_perform(curl);
  lib.slist_free_all(headers);

  if (exchange.cancelled) return absl::CancelledError(absl::StrCat(what, ": cancelled"));
  if (exchange.stalled) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": no data for ", absl::FormatDuration(request.stall_timeout)));
  }
  if (!exchange.rejected.ok()) return exchange.rejected;
  if (exchange.headers_too_big) {
    return Final(
        absl::StrCat(what, ": response headers over ", kMaxHeaderBytes / 1024, " KiB; refused"),
        "the Hub's are a few KiB: a proxy or server in between sends these; asking "
        "again would get the same");
  }
  if (exchange.refused) return absl::AbortedError(absl::StrCat(what, ": body not written"));
  if (exchange.too_big) {
    return absl::ResourceExhaustedError(
        absl::StrCat(what, ": response larger than ", request.max_body_bytes, " bytes"));
  }
  if (code != CURLE_OK) {
    const std::string detail = error[0] != '\0' ? error : lib.easy_strerror(code);
    if (code == CURLE_OPERATION_TIMEDOUT) {
      return absl::DeadlineExceededError(absl::StrCat(what, ": ", detail));
    }
    if (code == CURLE_UNSUPPORTED_PROTOCOL || code == CURLE_URL_MALFORMAT) {
      return Final(absl::StrCat(what, ": ", detail, " (only http and https URLs are fetched)"),
                   "the URL came from the Hub or a redirect: check HF_ENDPOINT and any proxy in "
                   "between");
    }
    if (code == CURLE_OUT_OF_MEMORY) {  // also libcurl's answer to a header line over 100 KiB
      return Final(absl::StrCat(what, ": ", detail, " (a response header line over 100 KiB?)"),
                   "a proxy or server in between may send such headers");
    }
    return absl::UnavailableError(absl::StrCat(what, ": ", detail));
  }
  lib.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  return response;
}

absl::StatusOr<HttpResponse> PerformWithRetries(
    HttpConnection& connection, const std::function<HttpRequest()>& make_request,
    const RetryPolicy& policy, std::mt19937_64& random,
    const std::function<void(absl::string_view why, absl::Duration wait)>& on_retry,
    const std::function<bool()>& progressed) {
  int failures = 0;
  for (;;) {
    const HttpRequest request = make_request();
    absl::StatusOr<HttpResponse> response = connection.Perform(request);
    std::string why;
    std::optional<absl::Duration> server_wait;
    if (response.ok()) {
      if (!IsRetryableHttpStatus(response->status)) return response;
      why = absl::StrCat(request.method, " ", UrlForDisplay(request.url), ": HTTP ",
                         response->status);
      server_wait = ParseRetryAfter(response->Header("retry-after"), absl::Now());
    } else if (absl::IsUnavailable(response.status()) ||
               absl::IsDeadlineExceeded(response.status())) {
      why = std::string(response.status().message());
    } else {
      return response.status();
    }
    if (progressed && progressed()) failures = 0;
    if (++failures >= policy.max_attempts) {
      const std::string message =
          absl::StrCat(why, " (gave up after ", failures, " attempts in a row)");
      return response.ok() ? absl::UnavailableError(message)
                           : absl::Status(response.status().code(), message);
    }
    const absl::Duration wait = server_wait ? std::min(*server_wait, policy.max_backoff * 10)
                                            : RetryDelay(policy, failures, random);
    if (on_retry) on_retry(why, wait);
    if (!SleepUnlessCancelled(wait, request.cancelled)) {
      return absl::CancelledError(absl::StrCat(why, "; cancelled while waiting to retry"));
    }
  }
}

std::string UrlForDisplay(absl::string_view url) {
  return std::string(url.substr(0, url.find('?')));
}

absl::Duration RetryDelay(const RetryPolicy& policy, int retry, std::mt19937_64& random) {
  const double exponent = std::min(std::max(retry - 1, 0), 30);
  absl::Duration delay = policy.initial_backoff * std::pow(2.0, exponent);
  delay = std::min(delay, policy.max_backoff);
  std::uniform_real_distribution<double> half_to_all(0.5, 1.0);
  return delay * half_to_all(random);
}

std::mt19937_64& RetryRandom() {
  thread_local std::mt19937_64 random{std::random_device{}()};
  return random;
}

bool IsRetryableHttpStatus(long status) {
  return status == 408 || status == 425 || status == 429 || (status >= 500 && status <= 599);
}

std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now) {
  value = absl::StripAsciiWhitespace(value);
  if (value.empty()) return std::nullopt;
  int64_t seconds = 0;
  if (absl::SimpleAtoi(value, &seconds)) return absl::Seconds(std::max<int64_t>(seconds, 0));
  absl::StatusOr<const CurlLibrary*> library = Curl();
  if (!library.ok()) return std::nullopt;
  const time_t when = (*library)->getdate(std::string(value).c_str(), nullptr);
  if (when < 0) return std::nullopt;
  return std::max(absl::FromTimeT(when) - now, absl::ZeroDuration());
}

bool SleepUnlessCancelled(absl::Duration duration, const std::function<bool()>& cancelled) {
  const absl::Time until = absl::Now() + duration;
  for (;;) {
    if (cancelled && cancelled()) return false;
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, absl::Milliseconds(50)));
  }
}

std::string UrlOrigin(absl::string_view url) {
  absl::StatusOr<const CurlLibrary*> library = Curl();
  if (!library.ok()) return "";
  const CurlLibrary& lib = **library;
  CURLU* handle = lib.url();
  std::string origin;
  char* scheme = nullptr;
  char* host = nullptr;
  char* port = nullptr;
  if (lib.url_set(handle, CURLUPART_URL, std::string(url).c_str(), 0) == CURLUE_OK &&
      lib.url_get(handle, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
      lib.url_get(handle, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      lib.url_get(handle, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    const std::string lower_scheme = absl::AsciiStrToLower(scheme);
    if (lower_scheme == "http" || lower_scheme == "https") {
      origin = absl::StrCat(lower_scheme, "://", absl::AsciiStrToLower(host), ":", port);
    }
  }
  lib.free(scheme);
  lib.free(host);
  lib.free(port);
  lib.url_cleanup(handle);
  return origin;
}

std::string ResolveUrl(absl::string_view base, absl::string_view location) {
  std::string resolved(location);
  absl::StatusOr<const CurlLibrary*> library = Curl();
  if (!library.ok()) return resolved;
  const CurlLibrary& lib = **library;
  CURLU* handle = lib.url();
  char* url = nullptr;
  if (lib.url_set(handle, CURLUPART_URL, std::string(base).c_str(), 0) == CURLUE_OK &&
      lib.url_set(handle, CURLUPART_URL, std::string(location).c_str(), 0) == CURLUE_OK &&
      lib.url_get(handle, CURLUPART_URL, &url, 0) == CURLUE_OK) {
    resolved = url;
  }
  lib.free(url);
  lib.url_cleanup(handle);
  return resolved;
}

std::string PercentEncode(absl::string_view text, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (absl::ascii_isalnum(byte) || c == '-' || c == '.' || c == '_' || c == '~' ||
        (keep_slash && c == '/')) {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 15];
    }
  }
  return out;
}

}  // namespace llorch
