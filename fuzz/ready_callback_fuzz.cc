// The worker ready callback on any bytes: the loopback listener's HTTP parser (as a request
// and, for the health probe, as a response; the peer still sending and closed) and the report
// in the body, in either of llorch-candled's shapes. Within the limits, no crash; and as the
// bytes arrive: a message complete in the first half is the same message when more follows, and
// nothing is wrong with the first half of bytes that are still incomplete.
#include <cstddef>
#include <cstdint>

#include "agent/workers/loopback_http.h"
#include "agent/workers/ready_listener.h"
#include "fuzz/fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  if (const auto report = llorch::ParseReadyReport(bytes)) {
    FUZZ_CHECK(report->worker_id.size() <= size, "the worker id comes from the body");
  }
  const llorch::HttpLimits limits{.max_head = 1024, .max_body = 4096};
  for (const auto kind : {llorch::HttpMessageKind::kRequest, llorch::HttpMessageKind::kResponse}) {
    for (const bool closed : {false, true}) {
      const llorch::HttpMessage message = llorch::ParseHttpMessage(bytes, kind, closed, limits);
      if (message.parse != llorch::HttpMessage::Parse::kComplete) continue;
      FUZZ_CHECK(message.body.size() <= limits.max_body, "the body is within its limit");
      FUZZ_CHECK(message.start_line.size() <= limits.max_head, "the head is within its limit");
      llorch::HttpStatusCode(message.start_line);
      llorch::ParseReadyReport(message.body);
    }
  }
  const absl::string_view half = bytes.substr(0, size / 2);
  for (const auto kind : {llorch::HttpMessageKind::kRequest, llorch::HttpMessageKind::kResponse}) {
    const llorch::HttpMessage whole = llorch::ParseHttpMessage(bytes, kind, false, limits);
    const llorch::HttpMessage first = llorch::ParseHttpMessage(half, kind, false, limits);
    if (first.parse == llorch::HttpMessage::Parse::kComplete) {
      FUZZ_CHECK(whole.parse == llorch::HttpMessage::Parse::kComplete &&
                     whole.start_line == first.start_line && whole.body == first.body,
                 "bytes after a complete message are ignored");
    }
    if (whole.parse == llorch::HttpMessage::Parse::kIncomplete) {
      FUZZ_CHECK(first.parse == llorch::HttpMessage::Parse::kIncomplete,
                 "the first half of an incomplete message is incomplete too");
    }
  }
  return 0;
}
