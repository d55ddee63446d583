// tests/support/fake_hub.h against the HuggingFace Hub download protocol, as seen on the wire:
// redirects and their headers, ranges, the tree API, errors, the token check, every fault, and
// the request log and byte count the fake keeps.
#include "tests/support/fake_hub.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "nlohmann/json.hpp"

namespace llorch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::SizeIs;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

constexpr char kRepo[] = "org/model";
// Spans several of the fake's 1 MiB send slices.
constexpr size_t kBigSize = 3 * (1 << 20) + 12345;

std::string BigContent() {
  std::string content(kBigSize, '\0');
  uint32_t x = 12345;
  for (char& c : content) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 24);
  }
  return content;
}

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr);
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) {
    hex += "0123456789abcdef"[digest[i] >> 4];
    hex += "0123456789abcdef"[digest[i] & 0xf];
  }
  return hex;
}

int PortOf(const std::string& origin) { return std::stoi(origin.substr(origin.rfind(':') + 1)); }

// "http://host:port/path?query" as origin and path-with-query.
std::pair<std::string, std::string> SplitUrl(const std::string& url) {
  size_t slash = url.find('/', url.find("//") + 2);
  return {url.substr(0, slash), url.substr(slash)};
}

// A response exactly as it came off the socket.
struct RawResponse {
  int status = 0;
  std::multimap<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// Sends `head` (request line and headers, without the final blank line) plus "Connection:
// close" on a fresh connection to 127.0.0.1:`port`, and reads until the server closes it.
RawResponse RawRequest(int port, const std::string& head) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  std::string request = head + "\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  EXPECT_EQ(send(fd, request.data(), request.size(), 0), static_cast<ssize_t>(request.size()));
  std::string raw;
  char buffer[65536];
  for (ssize_t n; (n = recv(fd, buffer, sizeof(buffer), 0)) > 0;) raw.append(buffer, n);
  close(fd);

  RawResponse response;
  size_t end = raw.find("\r\n\r\n");
  if (end == std::string::npos) return response;
  response.body = raw.substr(end + 4);
  std::string head_text = raw.substr(0, end);
  size_t line_end = head_text.find("\r\n");
  response.status = std::stoi(head_text.substr(9, 3));
  while (line_end != std::string::npos) {
    size_t next = head_text.find("\r\n", line_end + 2);
    std::string line = head_text.substr(line_end + 2, next - line_end - 2);
    size_t colon = line.find(':');
    std::string name = line.substr(0, colon);
    for (char& c : name) c = static_cast<char>(std::tolower(c));
    response.headers.emplace(name, line.substr(line.find_first_not_of(' ', colon + 1)));
    line_end = next;
  }
  return response;
}

class FakeHubTest : public ::testing::Test {
 protected:
  FakeHubTest() : big_(BigContent()) {
    hub_.AddFile(kRepo, "model.gguf", big_);
    hub_.AddFile(kRepo, "config.json", "hello world\n", /*lfs=*/false);
  }

  std::string ResolvePath(const std::string& file, const std::string& revision = "main") const {
    return std::string("/") + kRepo + "/resolve/" + revision + "/" + file;
  }
  int hub_port() const { return PortOf(hub_.endpoint()); }
  int cdn_port() const { return PortOf(hub_.cdn_origin()); }
  // The CDN path and query of the big file's signed URL.
  std::string CdnTarget() const { return SplitUrl(hub_.CdnUrl(kRepo, "model.gguf")).second; }
  RawResponse CdnGet(const std::string& extra_headers = "") const {
    return RawRequest(cdn_port(), "GET " + CdnTarget() + " HTTP/1.1" + extra_headers);
  }

  const std::string big_;
  testing::FakeHub hub_;
};

TEST_F(FakeHubTest, HeadOfLfsFileRedirectsToSignedCdnUrlWithLinkedHeaders) {
  RawResponse head = RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1");
  std::string sha256 = Sha256Hex(big_);
  EXPECT_EQ(head.status, 302);
  EXPECT_THAT(head.header("location"), StartsWith(hub_.cdn_origin() + "/" + sha256 + "?expires="));
  EXPECT_THAT(head.header("location"), HasSubstr("&signature="));
  EXPECT_EQ(head.header("x-repo-commit"), hub_.commit(kRepo));
  EXPECT_EQ(head.header("x-linked-etag"), "\"" + sha256 + "\"");
  EXPECT_EQ(head.header("x-linked-size"), std::to_string(kBigSize));
  EXPECT_EQ(head.header("etag"), "\"" + sha256 + "\"");
  EXPECT_EQ(head.body, "");
  // GET resolves the same way.
  EXPECT_EQ(RawRequest(hub_port(), "GET " + ResolvePath("model.gguf") + " HTTP/1.1").status, 302);
}

TEST_F(FakeHubTest, FollowingLocationGivesTheWholeFile) {
  httplib::Client hub_client(hub_.endpoint());
  httplib::Result head = hub_client.Head(ResolvePath("model.gguf").c_str());
  ASSERT_TRUE(head);
  auto [origin, target] = SplitUrl(head->get_header_value("Location"));
  EXPECT_EQ(origin, hub_.cdn_origin());

  RawResponse get = RawRequest(cdn_port(), "GET " + target + " HTTP/1.1");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.header("content-length"), std::to_string(kBigSize));
  EXPECT_EQ(get.headers.count("content-range"), 0u);
  EXPECT_EQ(get.header("accept-ranges"), "bytes");
  EXPECT_TRUE(get.body == big_);
  EXPECT_EQ(hub_.bytes_sent(), kBigSize);
}

TEST_F(FakeHubTest, RangesGive206WithOneContentRangeAndTheSlice) {
  struct Case {
    std::string range;
    size_t first;
    size_t last;
  };
  for (const Case& c : std::vector<Case>{
           {"bytes=100-199", 100, 199},
           {"bytes=1048000-1049999", 1048000, 1049999},  // across a send slice
           {"bytes=3000000-", 3000000, kBigSize - 1},
           {"bytes=-10", kBigSize - 10, kBigSize - 1},
           {"bytes=5-99999999", 5, kBigSize - 1},  // the end is clamped
           {"bytes=0-0", 0, 0},
       }) {
    SCOPED_TRACE(c.range);
    RawResponse get = CdnGet("\r\nRange: " + c.range);
    EXPECT_EQ(get.status, 206);
    EXPECT_EQ(get.headers.count("content-range"), 1u);
    EXPECT_EQ(get.header("content-range"), "bytes " + std::to_string(c.first) + "-" +
                                               std::to_string(c.last) + "/" +
                                               std::to_string(kBigSize));
    EXPECT_EQ(get.headers.count("content-length"), 1u);
    EXPECT_EQ(get.header("content-length"), std::to_string(c.last - c.first + 1));
    EXPECT_TRUE(get.body == big_.substr(c.first, c.last - c.first + 1));
  }
}

TEST_F(FakeHubTest, RangeBeyondTheEndIs416) {
  RawResponse get = CdnGet("\r\nRange: bytes=" + std::to_string(kBigSize) + "-");
  EXPECT_EQ(get.status, 416);
  EXPECT_EQ(get.header("content-range"), "bytes */" + std::to_string(kBigSize));
  EXPECT_EQ(get.body, "");
  EXPECT_EQ(hub_.bytes_sent(), 0u);
}

TEST_F(FakeHubTest, EmptyFileHasContentLengthZero) {
  hub_.AddFile(kRepo, "empty.bin", "");
  RawResponse get = RawRequest(
      cdn_port(), "GET " + SplitUrl(hub_.CdnUrl(kRepo, "empty.bin")).second + " HTTP/1.1");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.header("content-length"), "0");
  EXPECT_EQ(get.body, "");
}

TEST_F(FakeHubTest, NonLfsFileIsServedByTheHubWithGitBlobEtag) {
  RawResponse head = RawRequest(hub_port(), "HEAD " + ResolvePath("config.json") + " HTTP/1.1");
  EXPECT_EQ(head.status, 200);
  // `printf 'hello world\n' | git hash-object --stdin`
  EXPECT_EQ(head.header("etag"), "\"3b18e512dba79e4c8300dd08aeb37f8e728b8dad\"");
  EXPECT_EQ(head.header("x-repo-commit"), hub_.commit(kRepo));
  EXPECT_EQ(head.header("content-length"), "12");
  EXPECT_EQ(head.headers.count("location"), 0u);
  EXPECT_EQ(head.body, "");

  RawResponse get = RawRequest(hub_port(), "GET " + ResolvePath("config.json") + " HTTP/1.1");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "hello world\n");
  RawResponse range =
      RawRequest(hub_port(), "GET " + ResolvePath("config.json") + " HTTP/1.1\r\nRange: bytes=6-");
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.header("content-range"), "bytes 6-11/12");
  EXPECT_EQ(range.body, "world\n");
  EXPECT_EQ(hub_.bytes_sent(), 12u + 6u);
  // The Hub does not hand out CDN URLs for files kept in git.
  EXPECT_EQ(hub_.CdnUrl(kRepo, "config.json"), "");
}

TEST_F(FakeHubTest, CommitIsDeterministicAndChangesWithEveryPush) {
  std::string commit = hub_.commit(kRepo);
  EXPECT_THAT(commit, ::testing::MatchesRegex("[0-9a-f]{40}"));
  testing::FakeHub other;
  other.AddFile(kRepo, "a", "x");
  other.AddFile(kRepo, "b", "y");
  EXPECT_EQ(other.commit(kRepo), commit);
  EXPECT_NE(other.commit("org/other"), commit);

  EXPECT_EQ(
      RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf", commit) + " HTTP/1.1").status,
      302);
  std::string old_url = SplitUrl(hub_.CdnUrl(kRepo, "model.gguf")).second;
  hub_.AddFile(kRepo, "model.gguf", "new bytes");
  EXPECT_NE(hub_.commit(kRepo), commit);
  // The old commit still holds the old file, as git history does.
  RawResponse old_commit =
      RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf", commit) + " HTTP/1.1");
  EXPECT_EQ(old_commit.status, 302);
  EXPECT_EQ(old_commit.header("x-repo-commit"), commit);
  EXPECT_EQ(old_commit.header("x-linked-etag"), "\"" + Sha256Hex(big_) + "\"");
  RawResponse unknown = RawRequest(
      hub_port(), "HEAD " + ResolvePath("model.gguf", std::string(40, 'e')) + " HTTP/1.1");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.header("x-error-code"), "RevisionNotFound");
  RawResponse head = RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1");
  EXPECT_EQ(head.header("x-linked-etag"), "\"" + Sha256Hex("new bytes") + "\"");
  EXPECT_EQ(head.header("x-linked-size"), "9");
  // The CDN is content-addressed: the old object is still there under its old URL.
  EXPECT_TRUE(RawRequest(cdn_port(), "GET " + old_url + " HTTP/1.1").body == big_);
}

TEST_F(FakeHubTest, NotFoundsCarryTheHubErrorCodes) {
  struct Case {
    std::string path;
    std::string code;
  };
  for (const Case& c : std::vector<Case>{
           {"/org/nope/resolve/main/model.gguf", "RepoNotFound"},
           {ResolvePath("model.gguf", "v2"), "RevisionNotFound"},
           {ResolvePath("nope.gguf"), "EntryNotFound"},
           {"/api/models/org/nope/tree/main?recursive=true", "RepoNotFound"},
           {std::string("/api/models/") + kRepo + "/tree/v2?recursive=true", "RevisionNotFound"},
       }) {
    SCOPED_TRACE(c.path);
    for (const std::string method : {"HEAD", "GET"}) {
      RawResponse response = RawRequest(hub_port(), method + " " + c.path + " HTTP/1.1");
      EXPECT_EQ(response.status, 404);
      EXPECT_EQ(response.header("x-error-code"), c.code);
      EXPECT_NE(response.header("x-error-message"), "");
    }
  }
}

TEST_F(FakeHubTest, GatedRepoNeedsTheBearerToken) {
  hub_.RequireToken(kRepo, "hf_secret");
  for (const std::string& path :
       {ResolvePath("model.gguf"), std::string("/api/models/") + kRepo + "/tree/main"}) {
    SCOPED_TRACE(path);
    RawResponse anonymous = RawRequest(hub_port(), "GET " + path + " HTTP/1.1");
    EXPECT_EQ(anonymous.status, 401);
    EXPECT_EQ(anonymous.header("x-error-code"), "GatedRepo");
    EXPECT_NE(anonymous.header("x-error-message"), "");
    EXPECT_EQ(RawRequest(hub_port(), "GET " + path + " HTTP/1.1\r\nAuthorization: Bearer hf_wrong")
                  .status,
              401);
    EXPECT_EQ(
        RawRequest(hub_port(), "GET " + path + " HTTP/1.1\r\nAuthorization: hf_secret").status,
        401);
    EXPECT_THAT(
        RawRequest(hub_port(), "GET " + path + " HTTP/1.1\r\nAuthorization: Bearer hf_secret")
            .status,
        ::testing::AnyOf(200, 302));
  }
  // The CDN URL works without it, as on the real CDN.
  EXPECT_EQ(CdnGet().status, 200);
}

TEST_F(FakeHubTest, TreeListsFilesAndDirectories) {
  hub_.AddFile(kRepo, "sub/dir/weights.bin", "abc");
  hub_.AddFile(kRepo, "sub/readme.md", "hello world\n", /*lfs=*/false);
  httplib::Client client(hub_.endpoint());
  httplib::Result listing =
      client.Get((std::string("/api/models/") + kRepo + "/tree/main?recursive=true").c_str());
  ASSERT_TRUE(listing);
  EXPECT_EQ(listing->status, 200);
  EXPECT_THAT(listing->get_header_value("Content-Type"), StartsWith("application/json"));
  nlohmann::json entries = nlohmann::json::parse(listing->body);
  std::map<std::string, nlohmann::json> by_path;
  for (const nlohmann::json& entry : entries) by_path[entry["path"]] = entry;
  EXPECT_THAT(by_path, SizeIs(6));
  EXPECT_EQ(by_path["sub"]["type"], "directory");
  EXPECT_EQ(by_path["sub/dir"]["type"], "directory");
  // sha256("abc"); the oid is `git hash-object` of its LFS pointer file.
  EXPECT_EQ(by_path["sub/dir/weights.bin"],
            nlohmann::json::parse(R"({"type":"file","path":"sub/dir/weights.bin","size":3,
              "oid":"80d7d501c2b256023dc42e46d958b9ac2ec283ee",
              "lfs":{"oid":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
                     "size":3,"pointerSize":126}})"));
  EXPECT_EQ(by_path["sub/readme.md"],
            nlohmann::json::parse(R"({"type":"file","path":"sub/readme.md","size":12,
              "oid":"3b18e512dba79e4c8300dd08aeb37f8e728b8dad"})"));
  EXPECT_EQ(by_path["model.gguf"]["lfs"]["oid"], Sha256Hex(big_));
  EXPECT_EQ(by_path["model.gguf"]["size"], kBigSize);
  // A directory comes before what it holds.
  std::vector<std::string> order;
  for (const nlohmann::json& entry : entries) order.push_back(entry["path"]);
  EXPECT_LT(std::find(order.begin(), order.end(), "sub/dir") - order.begin(),
            std::find(order.begin(), order.end(), "sub/dir/weights.bin") - order.begin());

  // Without recursion, the first level only; with a path, what is under it.
  httplib::Result top = client.Get((std::string("/api/models/") + kRepo + "/tree/main").c_str());
  ASSERT_TRUE(top);
  std::vector<std::string> top_paths;
  for (const nlohmann::json& entry : nlohmann::json::parse(top->body)) {
    top_paths.push_back(entry["path"]);
  }
  EXPECT_THAT(top_paths, ::testing::UnorderedElementsAre("config.json", "model.gguf", "sub"));
  httplib::Result sub =
      client.Get((std::string("/api/models/") + kRepo + "/tree/main/sub/dir").c_str());
  ASSERT_TRUE(sub);
  EXPECT_EQ(nlohmann::json::parse(sub->body).size(), 1u);
}

TEST_F(FakeHubTest, DropClosesTheConnectionAfterExactlyNBodyBytes) {
  hub_.SetFaults({.drop_after_bytes = 1000, .drop_count = 1});
  RawResponse cut = CdnGet("\r\nRange: bytes=10-");
  EXPECT_EQ(cut.status, 206);
  EXPECT_EQ(cut.header("content-length"), std::to_string(kBigSize - 10));
  EXPECT_TRUE(cut.body == big_.substr(10, 1000));
  // Only the first response is cut.
  RawResponse whole = CdnGet();
  EXPECT_TRUE(whole.body == big_);
  EXPECT_EQ(hub_.bytes_sent(), 1000 + kBigSize);
}

TEST_F(FakeHubTest, ErrorBurstCountsHubAndCdnRequestsTogether) {
  hub_.SetFaults({.error_count = 2, .error_status = 503, .retry_after_seconds = 7});
  RawResponse hub_error = RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1");
  EXPECT_EQ(hub_error.status, 503);
  EXPECT_EQ(hub_error.header("retry-after"), "7");
  RawResponse cdn_error = CdnGet("\r\nRange: bytes=100-");
  EXPECT_EQ(cdn_error.status, 503);
  EXPECT_EQ(cdn_error.header("retry-after"), "7");
  EXPECT_EQ(cdn_error.headers.count("content-range"), 0u);
  EXPECT_NE(cdn_error.body, "");
  EXPECT_EQ(CdnGet().status, 200);

  hub_.SetFaults({.error_count = 1, .error_status = 429});
  RawResponse limited = RawRequest(hub_port(), "GET " + ResolvePath("config.json") + " HTTP/1.1");
  EXPECT_EQ(limited.status, 429);
  EXPECT_EQ(limited.headers.count("retry-after"), 0u);
  EXPECT_EQ(RawRequest(hub_port(), "GET " + ResolvePath("config.json") + " HTTP/1.1").status, 200);
}

TEST_F(FakeHubTest, CorruptByteIsFlippedInEveryResponseCoveringIt) {
  constexpr size_t kOffset = 1 << 20;  // the first byte of a send slice
  hub_.SetFaults({.corrupt_offset = kOffset});
  std::string expected = big_;
  expected[kOffset] = static_cast<char>(expected[kOffset] ^ 0xff);
  EXPECT_TRUE(CdnGet().body == expected);
  EXPECT_TRUE(
      CdnGet("\r\nRange: bytes=" + std::to_string(kOffset - 2) + "-" + std::to_string(kOffset + 2))
          .body == expected.substr(kOffset - 2, 5));
  EXPECT_TRUE(CdnGet("\r\nRange: bytes=0-" + std::to_string(kOffset - 1)).body ==
              big_.substr(0, kOffset));
  EXPECT_EQ(hub_.bytes_sent(), kBigSize + 5 + kOffset);

  hub_.SetFaults({.corrupt_offset = 6});
  EXPECT_EQ(RawRequest(hub_port(), "GET " + ResolvePath("config.json") + " HTTP/1.1").body,
            std::string("hello ") + static_cast<char>('w' ^ 0xff) + "orld\n");
}

// Answers no retry can make right: a redirect to another scheme, a size that is no size, a
// Content-Range that contradicts X-Linked-Size, headers bloated by a proxy.
TEST_F(FakeHubTest, AnswersCanBeMadeWrong) {
  hub_.SetFaults({.redirect_location = "file:///etc/passwd", .linked_size = "-5"});
  RawResponse head = RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1");
  EXPECT_EQ(head.status, 302);
  EXPECT_EQ(head.header("location"), "file:///etc/passwd");
  EXPECT_EQ(head.header("x-linked-size"), "-5");

  hub_.SetFaults({.sha1_etags = true});
  head = RawRequest(hub_port(), "HEAD " + ResolvePath("config.json") + " HTTP/1.1");
  const std::string blob_id = head.header("etag");  // a file outside LFS: its git blob id
  hub_.AddFile(kRepo, "small.gguf", "hello world\n");
  head = RawRequest(hub_port(), "HEAD " + ResolvePath("small.gguf") + " HTTP/1.1");
  EXPECT_EQ(head.status, 302);
  EXPECT_EQ(head.header("etag"), blob_id);
  EXPECT_EQ(head.headers.count("x-linked-etag"), 0u);

  hub_.SetFaults({.etag = "\"abc-123\""});
  head = RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1");
  EXPECT_EQ(head.header("etag"), "\"abc-123\"");
  EXPECT_EQ(head.headers.count("x-linked-etag"), 0u);

  hub_.SetFaults({.content_range_total = kBigSize * 2});
  RawResponse range = CdnGet("\r\nRange: bytes=0-99");
  EXPECT_EQ(range.status, 206);
  EXPECT_EQ(range.header("content-range"), "bytes 0-99/" + std::to_string(kBigSize * 2));
  EXPECT_TRUE(range.body == big_.substr(0, 100));

  hub_.SetFaults({.extra_header_bytes = 10000});
  RawResponse padded = RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1");
  size_t padding = 0;
  for (const auto& [name, value] : padded.headers) {
    if (name.rfind("x-padding-", 0) == 0) padding += value.size();
  }
  EXPECT_EQ(padding, 10000u);
  EXPECT_EQ(padded.status, 302);
}

TEST_F(FakeHubTest, StallPausesTheBodyWithTheConnectionOpen) {
  hub_.SetFaults(
      {.stall_after_bytes = 1000, .stall_count = 1, .stall_duration = absl::Milliseconds(300)});
  httplib::Client client(hub_.cdn_origin());
  size_t received = 0;
  Clock::time_point reached_stall;
  Clock::time_point after_stall;
  httplib::Result get = client.Get(CdnTarget().c_str(), [&](const char*, size_t length) {
    if (received < 1000 && received + length >= 1000) reached_stall = Clock::now();
    if (received <= 1000 && received + length > 1000) after_stall = Clock::now();
    received += length;
    return true;
  });
  ASSERT_TRUE(get);
  EXPECT_EQ(get->status, 200);
  EXPECT_EQ(received, kBigSize);
  EXPECT_GE(after_stall - reached_stall, std::chrono::milliseconds(250));

  // Only the first response stalls.
  Clock::time_point start = Clock::now();
  EXPECT_TRUE(CdnGet().body == big_);
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(250));
}

TEST(FakeHubStallTest, DestructionEndsALongStall) {
  auto hub = std::make_unique<testing::FakeHub>();
  hub->AddFile(kRepo, "model.gguf", std::string(100000, 'x'));
  hub->SetFaults({.stall_after_bytes = 1000, .stall_count = 1, .stall_duration = absl::Hours(1)});
  auto [origin, target] = SplitUrl(hub->CdnUrl(kRepo, "model.gguf"));
  std::atomic<size_t> received = 0;
  std::thread download([&, origin = origin, target = target] {
    httplib::Client client(origin);
    client.Get(target.c_str(), [&](const char*, size_t length) {
      received += length;
      return true;
    });
  });
  while (received < 1000) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Clock::time_point start = Clock::now();
  hub.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
  download.join();
  EXPECT_EQ(received, 1000u);
}

TEST_F(FakeHubTest, PacingCapsEachConnection) {
  hub_.AddFile(kRepo, "small.bin", std::string(100 << 10, 'p'));
  hub_.SetFaults({.bytes_per_second_per_connection = 400 << 10});
  std::string target = SplitUrl(hub_.CdnUrl(kRepo, "small.bin")).second;
  Clock::time_point start = Clock::now();
  RawResponse get = RawRequest(cdn_port(), "GET " + target + " HTTP/1.1");
  EXPECT_EQ(get.body.size(), 100u << 10);
  // 100 KiB at 400 KiB/s: a quarter of a second at least.
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(240));
}

TEST_F(FakeHubTest, ExpiredOrForgedCdnUrlIs403) {
  hub_.SetFaults({.url_lifetime = absl::Seconds(-1)});
  RawResponse head = RawRequest(hub_port(), "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1");
  RawResponse expired =
      RawRequest(cdn_port(), "GET " + SplitUrl(head.header("location")).second + " HTTP/1.1");
  EXPECT_EQ(expired.status, 403);
  EXPECT_THAT(expired.body, HasSubstr("<Code>AccessDenied</Code>"));
  EXPECT_THAT(expired.body, HasSubstr("expired"));

  hub_.SetFaults({});
  std::string target = CdnTarget();
  std::string forged = target;
  forged.back() = forged.back() == '0' ? '1' : '0';
  RawResponse wrong = RawRequest(cdn_port(), "GET " + forged + " HTTP/1.1");
  EXPECT_EQ(wrong.status, 403);
  EXPECT_THAT(wrong.body, HasSubstr("<Code>SignatureDoesNotMatch</Code>"));
  EXPECT_EQ(hub_.bytes_sent(), 0u);
}

TEST_F(FakeHubTest, RecordsEveryRequest) {
  RawRequest(hub_port(),
             "HEAD " + ResolvePath("model.gguf") + " HTTP/1.1\r\nAuthorization: Bearer hf_x");
  CdnGet("\r\nRange: bytes=5-9");
  // httplib answers a malformed range itself, before routing; it is still recorded.
  EXPECT_EQ(CdnGet("\r\nRange: bytes=9-5").status, 416);
  std::vector<testing::FakeHubRequest> requests = hub_.requests();
  ASSERT_THAT(requests, SizeIs(3));
  EXPECT_EQ(requests[0].server, "hub");
  EXPECT_EQ(requests[0].method, "HEAD");
  EXPECT_EQ(requests[0].path, ResolvePath("model.gguf"));
  EXPECT_EQ(requests[0].range, "");
  EXPECT_EQ(requests[0].authorization, "Bearer hf_x");
  EXPECT_EQ(requests[0].status, 302);
  EXPECT_EQ(requests[1].server, "cdn");
  EXPECT_EQ(requests[1].method, "GET");
  EXPECT_EQ(requests[1].path, "/" + Sha256Hex(big_));
  EXPECT_EQ(requests[1].range, "bytes=5-9");
  EXPECT_EQ(requests[1].authorization, "");
  EXPECT_EQ(requests[1].status, 206);
  EXPECT_EQ(requests[2].range, "bytes=9-5");
  EXPECT_EQ(requests[2].status, 416);
  EXPECT_EQ(hub_.bytes_sent(), 5u);

  hub_.ResetStats();
  EXPECT_THAT(hub_.requests(), ElementsAre());
  EXPECT_EQ(hub_.bytes_sent(), 0u);
}

TEST(FakeHubKeepAliveTest, DestructionDoesNotWaitForIdleConnections) {
  auto hub = std::make_unique<testing::FakeHub>();
  hub->AddFile(kRepo, "config.json", "{}", /*lfs=*/false);
  httplib::Client client(hub->endpoint());
  client.set_keep_alive(true);
  ASSERT_TRUE(client.Get((std::string("/") + kRepo + "/resolve/main/config.json").c_str()));
  Clock::time_point start = Clock::now();
  hub.reset();
  EXPECT_LT(Clock::now() - start, std::chrono::seconds(1));
}

}  // namespace
}  // namespace llorch
