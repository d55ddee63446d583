// HTTP/1.1 messages as the agent's loopback listener (ready callbacks) and its health probe read
// them: parsed by a pure function from the bytes received so far, within fixed bounds, so that a
// hostile or broken peer costs a few KiB and is answered, never waited on without end.
//
// A message is a start line, header lines (CRLF or bare LF) and a body framed by Content-Length
// or chunked Transfer-Encoding; a response without either ends when the peer closes. Both framing
// headers at once, or a Content-Length that is not one number, is malformed (no guessing which
// one the peer meant); any other transfer coding is unsupported.
#ifndef LLORCH_AGENT_WORKERS_LOOPBACK_HTTP_H_
#define LLORCH_AGENT_WORKERS_LOOPBACK_HTTP_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace llorch {

struct HttpLimits {
  size_t max_head = 8 << 10;   // start line and headers
  size_t max_body = 64 << 10;  // the body, decoded
};

struct HttpMessage {
  enum class Parse {
    kIncomplete,    // more bytes needed
    kComplete,      // start_line and body are set
    kMalformed,     // answer 400
    kHeadTooLarge,  // answer 431
    kBodyTooLarge,  // answer 413
    kUnsupported,   // a transfer coding other than chunked: answer 501
  };
  Parse parse = Parse::kIncomplete;
  std::string start_line;  // "POST /path HTTP/1.1" or "HTTP/1.1 200 OK"
  std::string body;
};

enum class HttpMessageKind { kRequest, kResponse };

// What `received` (all bytes so far, from the first) holds. `closed`: the peer has closed its
// side, so nothing more comes: a response without framing ends there, anything else incomplete
// is malformed. Bytes after a complete message are ignored.
HttpMessage ParseHttpMessage(absl::string_view received, HttpMessageKind kind, bool closed,
                             const HttpLimits& limits = {});

// The status code of a response's start line ("HTTP/1.1 200 OK": 200); 0 when it is not one.
int HttpStatusCode(absl::string_view start_line);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_LOOPBACK_HTTP_H_
