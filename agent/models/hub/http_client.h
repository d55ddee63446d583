// One HTTP exchange at a time over libcurl, for the Hub client and the downloader. libcurl is
// loaded on first use (curl_library.h); when it cannot be, Perform() fails with Unavailable.
//
// Redirects are never followed (the Hub client decides where to go, and never carries the token
// to another host); TLS peers are always verified; only http and https are spoken; proxies come
// from libcurl's usual environment (https_proxy, no_proxy, ...). A connection keeps its socket
// between requests (keep-alive), so the parts of a download reuse it. Not thread-safe: one
// HttpConnection per thread.
//
// Which failures are worth another attempt is decided here, once: Perform() returns Unavailable
// or DeadlineExceeded for what may pass (network, stall), and PerformWithRetries() retries those
// and the retryable statuses; everything else (a URL of another scheme, headers over
// kMaxHeaderBytes, an answer on_headers refused) fails at once, with reason HUB_BAD_ANSWER.
#ifndef LLORCH_AGENT_MODELS_HUB_HTTP_CLIENT_H_
#define LLORCH_AGENT_MODELS_HUB_HTTP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace llorch {

// Response headers beyond this are refused: the Hub's and its CDN's are a few KiB.
inline constexpr size_t kMaxHeaderBytes = 64 << 10;

struct HttpResponse;

struct HttpRequest {
  std::string method = "GET";  // "GET" or "HEAD"
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  // "A-B" or "A-" (bytes); "" = the whole body.
  std::string range;
  // Receives a 2xx response's body as it arrives; returning false aborts the exchange
  // (Aborted). Other responses' bodies go to HttpResponse::body (their first 64 KiB). Unset:
  // every body is collected into HttpResponse::body, up to max_body_bytes (more is an error).
  std::function<bool(long status, const char* data, size_t size)> on_body;
  // Called with a 2xx response's headers before its body; an error ends the exchange with it
  // (give it a code that is not retried: the answer itself is wrong).
  std::function<absl::Status(long status, const HttpResponse& response)> on_headers;
  size_t max_body_bytes = 16 << 20;
  // Polled while waiting (at least once a second); true aborts the exchange (Cancelled).
  std::function<bool()> cancelled;
  absl::Duration connect_timeout = absl::Seconds(10);
  // No byte received for this long (headers or body) aborts the exchange (DeadlineExceeded).
  absl::Duration stall_timeout = absl::Seconds(30);
};

struct HttpResponse {
  long status = 0;
  // Header names in lower case; the last value of a repeated header wins.
  std::map<std::string, std::string> headers;
  std::string body;         // collected as HttpRequest::on_body says
  uint64_t body_bytes = 0;  // body bytes received, collected or not

  // The header's value, or "" when absent. `name` in lower case.
  std::string Header(absl::string_view name) const;
};

class HttpConnection {
 public:
  HttpConnection();
  ~HttpConnection();
  HttpConnection(const HttpConnection&) = delete;
  HttpConnection& operator=(const HttpConnection&) = delete;

  // Any HTTP status is a response, not an error. Errors: Unavailable for transport failures
  // (resolve, connect, reset, TLS), DeadlineExceeded for a stall or connect timeout, Cancelled,
  // Aborted when on_body refused the data, on_headers' error; FailedPrecondition (reason
  // HUB_BAD_ANSWER) for a URL that is not http(s) and for headers over kMaxHeaderBytes. Each
  // message names the method and URL.
  absl::StatusOr<HttpResponse> Perform(const HttpRequest& request);

 private:
  void* curl_;  // CURL*
};

// How often to try a request that fails for a reason that may pass (network, 5xx, 429, stall).
struct RetryPolicy {
  int max_attempts = 8;  // in a row without progress; then give up
  absl::Duration initial_backoff = absl::Milliseconds(500);
  absl::Duration max_backoff = absl::Seconds(30);
};

// Performs the request from `make_request` (called before every attempt, so a resumed download
// can move its Range on) until it answers with a status that is not worth retrying, which is
// returned as it is (2xx, 3xx, most 4xx). Transport failures, stalls and retryable statuses are
// retried after RetryDelay(), or after the server's Retry-After when it gives one (capped at
// max_backoff * 10); `on_retry` hears why and how long it waits. Attempts count in a row: when
// `progressed` (may be unset) says the failed attempt moved data, the count starts over. Errors:
// the last failure, Unavailable for a retryable status, once max_attempts ran out (the message
// says how many); Cancelled as soon as `cancelled` says so, also while waiting.
absl::StatusOr<HttpResponse> PerformWithRetries(
    HttpConnection& connection, const std::function<HttpRequest()>& make_request,
    const RetryPolicy& policy, std::mt19937_64& random,
    const std::function<void(absl::string_view why, absl::Duration wait)>& on_retry = {},
    const std::function<bool()>& progressed = {});

// The wait before retry number `retry` (1 = the first retry): initial_backoff * 2^(retry-1),
// at most max_backoff, with "equal jitter" (a uniform pick between half of that and all of it),
// so that parallel parts failing together do not come back together.
absl::Duration RetryDelay(const RetryPolicy& policy, int retry, std::mt19937_64& random);

// This thread's random generator for RetryDelay's jitter.
std::mt19937_64& RetryRandom();

// True for statuses worth retrying: 408, 425, 429 and every 5xx.
bool IsRetryableHttpStatus(long status);

// The Retry-After header's delay (delta-seconds or an HTTP date, relative to `now`); nullopt when
// absent or unreadable. Never negative.
std::optional<absl::Duration> ParseRetryAfter(absl::string_view value, absl::Time now);

// Sleeps for `duration` in small steps; false (early) once `cancelled` returns true.
bool SleepUnlessCancelled(absl::Duration duration, const std::function<bool()>& cancelled);

// "scheme://host:port" of `url` (default ports made explicit, host lower-cased); "" when `url`
// is not an absolute http(s) URL (or libcurl cannot be loaded: then nothing is a Hub URL).
std::string UrlOrigin(absl::string_view url);

// `url` without its query string, for messages: a CDN URL's signature stays out of logs.
std::string UrlForDisplay(absl::string_view url);

// `location` (a Location header) resolved against the URL it answered.
std::string ResolveUrl(absl::string_view base, absl::string_view location);

// `text` with every byte outside [A-Za-z0-9-._~] percent-encoded, except '/' when keep_slash.
std::string PercentEncode(absl::string_view text, bool keep_slash);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_HTTP_CLIENT_H_
