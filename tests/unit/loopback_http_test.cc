// The loopback listener's HTTP parsing: framing, bounds, and what each refusal is.
#include "agent/workers/loopback_http.h"

#include <gtest/gtest.h>

#include <string>

#include "agent/workers/ready_listener.h"

namespace llorch {
namespace {

using Parse = HttpMessage::Parse;

HttpMessage Request(const std::string& bytes, bool closed = false) {
  return ParseHttpMessage(bytes, HttpMessageKind::kRequest, closed);
}

// The request parsed from `whole` plus `extra`, after checking that every shorter prefix of
// `whole` is incomplete (bytes arrive in pieces of any size).
HttpMessage ParsedWhenWhole(const std::string& whole, const std::string& extra = "") {
  for (size_t cut = 0; cut < whole.size(); ++cut) {
    EXPECT_EQ(Request(whole.substr(0, cut)).parse, Parse::kIncomplete) << cut;
  }
  return Request(whole + extra);
}

TEST(LoopbackHttpTest, AContentLengthBodyIsCompleteOnceAllOfItArrived) {
  const std::string whole =
      "POST /v1/workers/ready HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  const HttpMessage message = ParsedWhenWhole(whole, "ignored");
  ASSERT_EQ(message.parse, Parse::kComplete);
  EXPECT_EQ(message.start_line, "POST /v1/workers/ready HTTP/1.1");
  EXPECT_EQ(message.body, "hello");
}

TEST(LoopbackHttpTest, BareLineFeedsAndHeaderNamesInAnyCaseAreRead) {
  const HttpMessage message = Request("POST / HTTP/1.1\ncontent-LENGTH:  2 \n\nhi");
  ASSERT_EQ(message.parse, Parse::kComplete);
  EXPECT_EQ(message.body, "hi");
}

TEST(LoopbackHttpTest, AChunkedBodyIsDecoded) {
  const std::string whole =
      "POST / HTTP/1.1\r\nTransfer-Encoding: "
      "chunked\r\n\r\n4;ext=1\r\n{\"a\"\r\n2\r\n:1\r\n1\r\n}\r\n"
      "0\r\nTrailer: x\r\n\r\n";
  const HttpMessage message = ParsedWhenWhole(whole);
  ASSERT_EQ(message.parse, Parse::kComplete);
  EXPECT_EQ(message.body, "{\"a\":1}");
}

TEST(LoopbackHttpTest, ARequestWithoutFramingHasNoBody) {
  const HttpMessage message = Request("GET /health HTTP/1.1\r\n\r\n");
  ASSERT_EQ(message.parse, Parse::kComplete);
  EXPECT_EQ(message.body, "");
}

TEST(LoopbackHttpTest, AResponseWithoutFramingEndsWhenThePeerCloses) {
  const std::string bytes = "HTTP/1.0 200 OK\r\n\r\n{\"vram_bytes\":1}";
  EXPECT_EQ(ParseHttpMessage(bytes, HttpMessageKind::kResponse, false).parse, Parse::kIncomplete);
  const HttpMessage message = ParseHttpMessage(bytes, HttpMessageKind::kResponse, true);
  ASSERT_EQ(message.parse, Parse::kComplete);
  EXPECT_EQ(message.body, "{\"vram_bytes\":1}");
  EXPECT_EQ(HttpStatusCode(message.start_line), 200);
}

TEST(LoopbackHttpTest, OversizedHeadsAndBodiesAreRefusedBeforeTheyArrive) {
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nX: " + std::string(9000, 'a')).parse, Parse::kHeadTooLarge);
  EXPECT_EQ(Request(std::string(9000, 'a')).parse, Parse::kHeadTooLarge);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: 65537\r\n\r\n").parse,
            Parse::kBodyTooLarge);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n").parse,
            Parse::kMalformed);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n10001\r\n").parse,
            Parse::kBodyTooLarge);
  // Many tiny chunks: the framing of a body within bounds cannot grow without end either.
  std::string tiny = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  while (tiny.size() < 3 * 65536) tiny += "1;" + std::string(100, 'e') + "\r\nx\r\n";
  EXPECT_EQ(Request(tiny).parse, Parse::kBodyTooLarge);
}

TEST(LoopbackHttpTest, AmbiguousOrBrokenFramingIsMalformedOrUnsupported) {
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab").parse,
            Parse::kMalformed);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na").parse, Parse::kMalformed);
  EXPECT_EQ(
      Request("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n").parse,
      Parse::kMalformed);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n").parse,
            Parse::kUnsupported);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nno colon\r\n\r\n").parse, Parse::kMalformed);
  EXPECT_EQ(Request("\r\n").parse, Parse::kMalformed);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").parse,
            Parse::kMalformed);
  EXPECT_EQ(Request("POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab", /*closed=*/true).parse,
            Parse::kMalformed);
  EXPECT_EQ(HttpStatusCode("HTTP/1.1 2000 OK"), 0);
  EXPECT_EQ(HttpStatusCode("SSH-2.0-OpenSSH"), 0);
}

TEST(ReadyReportTest, BothBodyShapesAreRead) {
  std::optional<ReadyReport> first =
      ParseReadyReport(R"({"worker_id":"w1","vram_bytes":1024,"uri":"http://localhost:9001"})");
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->worker_id, "w1");
  EXPECT_EQ(first->vram_bytes, 1024u);
  EXPECT_EQ(first->uri, "http://localhost:9001");
  std::optional<ReadyReport> later = ParseReadyReport(
      R"({"worker_id":"w2","url":"http://localhost:9002","model_ref":"m","backend":"cpu","device":0})");
  ASSERT_TRUE(later.has_value());
  EXPECT_EQ(later->worker_id, "w2");
  EXPECT_EQ(later->vram_bytes, 0u);
  EXPECT_EQ(later->uri, "http://localhost:9002");
}

TEST(ReadyReportTest, AnythingButAnObjectWithAStringWorkerIdIsRefused) {
  for (const char* body : {"", "null", "[]", "{}", R"({"worker_id":1})", "{\"worker_id\":\"w",
                           R"({"vram_bytes":1})"}) {
    EXPECT_FALSE(ParseReadyReport(body).has_value()) << body;
  }
  std::optional<ReadyReport> odd = ParseReadyReport(R"({"worker_id":"w","vram_bytes":-1,"uri":7})");
  ASSERT_TRUE(odd.has_value());
  EXPECT_EQ(odd->vram_bytes, 0u);
  EXPECT_EQ(odd->uri, "");
}

}  // namespace
}  // namespace llorch
