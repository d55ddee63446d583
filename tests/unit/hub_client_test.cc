// The pieces of the Hub client that need no server: where the token and endpoint come from,
// which URLs count as the Hub's, retry timing and Retry-After, which etags are digests, how
// header lines, Content-Range and the Hub's file headers are read (hub_headers.h).
#include "agent/models/hub/hub_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/models/hub/http_client.h"
#include "agent/models/hub/hub_headers.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

using ::testing::ElementsAre;

TEST(HubOptionsTest, DefaultsToTheHubAnonymousAndOnline) {
  HubOptions options = HubOptionsFromEnvironment({});
  EXPECT_EQ(options.endpoint, "https://huggingface.co");
  EXPECT_EQ(options.token, "");
  EXPECT_FALSE(options.offline);
}

TEST(HubOptionsTest, ReadsEndpointTokenAndOfflineLikeTheOfficialClient) {
  HubOptions options = HubOptionsFromEnvironment({{"HF_ENDPOINT", "https://hf-mirror.example/"},
                                                  {"HF_TOKEN", " hf_abc \n"},
                                                  {"HF_HUB_OFFLINE", "1"}});
  EXPECT_EQ(options.endpoint, "https://hf-mirror.example");
  EXPECT_EQ(options.token, "hf_abc");
  EXPECT_EQ(options.token_source, "HF_TOKEN");
  EXPECT_TRUE(options.offline);
  for (const char* value : {"true", "YES", "on"}) {
    EXPECT_TRUE(HubOptionsFromEnvironment({{"HF_HUB_OFFLINE", value}}).offline) << value;
  }
  for (const char* value : {"0", "false", ""}) {
    EXPECT_FALSE(HubOptionsFromEnvironment({{"HF_HUB_OFFLINE", value}}).offline) << value;
  }
}

TEST(HubOptionsTest, FallsBackToTheTokenFileHfAuthLoginWrites) {
  testing::TempDir home;
  testing::WriteFileBytes(home.path() + "/.cache/huggingface/token", "hf_from_login\n");
  HubOptions options = HubOptionsFromEnvironment({{"HOME", home.path()}});
  EXPECT_EQ(options.token, "hf_from_login");
  EXPECT_EQ(options.token_source, home.path() + "/.cache/huggingface/token");

  testing::WriteFileBytes(home.path() + "/hf/token", "hf_from_hf_home");
  EXPECT_EQ(
      HubOptionsFromEnvironment({{"HOME", home.path()}, {"HF_HOME", home.path() + "/hf"}}).token,
      "hf_from_hf_home");
  testing::WriteFileBytes(home.path() + "/elsewhere", "hf_from_path");
  EXPECT_EQ(HubOptionsFromEnvironment(
                {{"HOME", home.path()}, {"HF_TOKEN_PATH", home.path() + "/elsewhere"}})
                .token,
            "hf_from_path");
  // HF_TOKEN wins over any file.
  EXPECT_EQ(HubOptionsFromEnvironment({{"HOME", home.path()}, {"HF_TOKEN", "hf_env"}}).token,
            "hf_env");
}

TEST(HubClientTest, SendsTheTokenOnlyToTheHubsOrigin) {
  HubOptions options;
  options.endpoint = "https://huggingface.co";
  options.token = "hf_secret";
  HubClient hub(options);
  EXPECT_THAT(hub.HeadersFor("https://huggingface.co/a/b/resolve/main/f.gguf"),
              ElementsAre("Accept-Encoding: identity", "Authorization: Bearer hf_secret"));
  EXPECT_THAT(hub.HeadersFor("https://HuggingFace.co:443/api/models/a/b/tree/main"),
              ElementsAre("Accept-Encoding: identity", "Authorization: Bearer hf_secret"));
  for (const char* cdn :
       {"https://cdn-lfs.huggingface.co/repos/x?sig=1",
        "http://huggingface.co/a/b/resolve/main/f.gguf",  // other scheme
        "https://huggingface.co.evil.example/x", "https://huggingface.co:8443/x"}) {
    EXPECT_THAT(hub.HeadersFor(cdn), ElementsAre("Accept-Encoding: identity")) << cdn;
  }
}

TEST(HubClientTest, OfflineRefusesBeforeAnyNetworkCall) {
  HubOptions options;
  options.endpoint = "http://127.0.0.1:1";  // nothing listens; offline must not even try
  options.offline = true;
  HubClient hub(options);
  absl::StatusOr<RemoteFile> file = hub.Resolve("a/b", "main", "f.gguf");
  ASSERT_EQ(file.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(file.status().message(), ::testing::HasSubstr("HF_HUB_OFFLINE"));
  EXPECT_EQ(hub.ListFiles("a/b", "main").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(HubDigestOfEtagTest, A64HexEtagIsASha256And40HexAGitBlobIdNothingElseIsADigest) {
  EXPECT_EQ(HubDigestOfEtag(std::string(64, 'F')).sha256, std::string(64, 'f'));
  EXPECT_EQ(HubDigestOfEtag(std::string(64, 'F')).git_sha1, "");
  EXPECT_EQ(HubDigestOfEtag(std::string(40, 'A')).git_sha1, std::string(40, 'a'));
  EXPECT_EQ(HubDigestOfEtag(std::string(40, 'A')).sha256, "");
  for (const std::string& etag :
       {std::string(63, 'a') + "g", std::string(39, 'a'), std::string(41, 'a'),
        std::string("\"abc-123\""), std::string()}) {
    const FileHashes digest = HubDigestOfEtag(etag);
    EXPECT_EQ(digest.sha256 + digest.git_sha1, "") << etag;
  }
}

TEST(RetryDelayTest, DoublesUpToTheCapWithJitterInTheUpperHalf) {
  RetryPolicy policy;
  policy.initial_backoff = absl::Milliseconds(100);
  policy.max_backoff = absl::Seconds(1);
  std::mt19937_64 random(42);
  for (int i = 0; i < 100; ++i) {
    const absl::Duration first = RetryDelay(policy, 1, random);
    EXPECT_GE(first, absl::Milliseconds(50));
    EXPECT_LE(first, absl::Milliseconds(100));
    const absl::Duration third = RetryDelay(policy, 3, random);
    EXPECT_GE(third, absl::Milliseconds(200));
    EXPECT_LE(third, absl::Milliseconds(400));
    const absl::Duration late = RetryDelay(policy, 40, random);
    EXPECT_GE(late, absl::Milliseconds(500));
    EXPECT_LE(late, absl::Seconds(1));
  }
}

TEST(RetryAfterTest, ReadsSecondsAndHttpDates) {
  const absl::Time now = absl::FromUnixSeconds(1784000000);
  EXPECT_EQ(ParseRetryAfter("7", now), absl::Seconds(7));
  EXPECT_EQ(ParseRetryAfter(" 0 ", now), absl::ZeroDuration());
  EXPECT_EQ(ParseRetryAfter("-3", now), absl::ZeroDuration());
  const std::string in_a_minute =
      absl::FormatTime("%a, %d %b %Y %H:%M:%S GMT", now + absl::Seconds(60), absl::UTCTimeZone());
  EXPECT_EQ(ParseRetryAfter(in_a_minute, now), absl::Seconds(60));
  EXPECT_EQ(ParseRetryAfter("", now), std::nullopt);
  EXPECT_EQ(ParseRetryAfter("soon", now), std::nullopt);
}

TEST(UrlTest, OriginsResolvingAndEncoding) {
  EXPECT_EQ(UrlOrigin("https://HF.co/a?b"), "https://hf.co:443");
  EXPECT_EQ(UrlOrigin("http://127.0.0.1:8080/x"), "http://127.0.0.1:8080");
  EXPECT_EQ(UrlOrigin("ftp://example.com/x"), "");
  EXPECT_EQ(UrlOrigin("not a url"), "");
  EXPECT_EQ(ResolveUrl("https://hf.co/a/b/resolve/main/f", "/api/resolve-cache/x"),
            "https://hf.co/api/resolve-cache/x");
  EXPECT_EQ(ResolveUrl("https://hf.co/a", "https://cdn.example/y?sig=1"),
            "https://cdn.example/y?sig=1");
  EXPECT_EQ(UrlForDisplay("https://cdn.example/y?X-Amz-Signature=secret"), "https://cdn.example/y");
  EXPECT_EQ(PercentEncode("refs/pr/1", false), "refs%2Fpr%2F1");
  EXPECT_EQ(PercentEncode("sub dir/f+1.json", true), "sub%20dir/f%2B1.json");
}

TEST(RetryableStatusTest, ServerTroubleAndThrottlingOnly) {
  for (long status : {408L, 425L, 429L, 500L, 502L, 503L, 504L}) {
    EXPECT_TRUE(IsRetryableHttpStatus(status)) << status;
  }
  for (long status : {200L, 206L, 302L, 400L, 401L, 403L, 404L, 416L}) {
    EXPECT_FALSE(IsRetryableHttpStatus(status)) << status;
  }
}

TEST(HubHeadersTest, HeaderLinesAsLibcurlHandsThemOverMakeOneResponse) {
  long status = 0;
  std::map<std::string, std::string> headers;
  EXPECT_EQ(ApplyHeaderLine("HTTP/1.1 100 Continue\r\n", &status, &headers), HeaderLine::kStatus);
  EXPECT_EQ(ApplyHeaderLine("\r\n", &status, &headers), HeaderLine::kEnd);
  EXPECT_EQ(ApplyHeaderLine("HTTP/2 302\r\n", &status, &headers), HeaderLine::kStatus);
  EXPECT_EQ(ApplyHeaderLine("X-Linked-Size:  668788096 \r\n", &status, &headers),
            HeaderLine::kField);
  EXPECT_EQ(ApplyHeaderLine("no colon here\r\n", &status, &headers), HeaderLine::kOther);
  EXPECT_EQ(status, 302);
  EXPECT_EQ(headers, (std::map<std::string, std::string>{{"x-linked-size", "668788096"}}));
  EXPECT_EQ(ApplyHeaderLine("HTTP/1.1 abc\r\n", &status, &headers), HeaderLine::kStatus);
  EXPECT_EQ(status, 0);
  EXPECT_TRUE(headers.empty());
}

TEST(HubHeadersTest, ContentRangeIsReadOnlyWhenWhole) {
  const std::optional<ContentRange> range = ParseContentRange("bytes 100-199/1000");
  ASSERT_TRUE(range.has_value());
  EXPECT_EQ(range->first, 100u);
  EXPECT_EQ(range->last, 199u);
  EXPECT_EQ(range->total, 1000u);
  EXPECT_EQ(ParseContentRange("bytes 0-0/*")->total, std::nullopt);
  for (const char* bad : {"", "bytes", "bytes 5-4/10", "bytes 1/2-3", "items 0-1/2", "bytes -1/2",
                          "bytes 0-1/", "bytes 0-99999999999999999999/1"}) {
    EXPECT_EQ(ParseContentRange(bad), std::nullopt) << bad;
  }
}

TEST(HubHeadersTest, TheHubsFileHeadersGiveCommitEtagSizeAndDigest) {
  HttpResponse response;
  response.headers = {
      {"x-repo-commit", "9217f5db79a29953eb74d5343926648285ec7e67"},
      {"x-linked-etag", "\"74A4DA8C9FDBCD15BD1F6D01D621410D31C6FC00986F5EB687824E7B93D7A9DB\""},
      {"x-linked-size", "668788096"},
      {"etag", "\"ignored\""}};
  RemoteFile file;
  file.path = "model.gguf";
  absl::StatusOr<RemoteFile> resolved = FileFromHeaders(response, HubOptions{}, file);
  ASSERT_TRUE(resolved.ok()) << resolved.status();
  EXPECT_EQ(resolved->size, 668788096u);
  EXPECT_EQ(resolved->sha256, "74a4da8c9fdbcd15bd1f6d01d621410d31c6fc00986f5eb687824e7b93d7a9db");
  response.headers["x-linked-size"] = "-1";
  EXPECT_THAT(FileFromHeaders(response, HubOptions{}, file).status().message(),
              ::testing::HasSubstr("invalid X-Linked-Size header (\"-1\"): not a byte count"));
}

}  // namespace
}  // namespace llorch
