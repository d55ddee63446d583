// Downloads with the native Hub client against tests/support/fake_hub: what lands on disk, what
// crosses the wire, and each fault of design.md: dropped connections, 5xx and 429 bursts,
// corrupt bytes, stalls, expired CDN URLs, a file that changed upstream, a token that must not
// reach the CDN, offline mode, 404s, a disk too small, a server that ignores Range, a Hub that
// vouches by git blob id or not at all, and answers no retry can mend (each fails at once).
// Also conversion sources, adoption of files without a manifest, the space a failed download
// holds, and two downloads of one model at once.
#include "agent/models/model_download.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "agent/models/hub/partial_data.h"
#include "agent/models/model_verifier.h"
#include "agent/models/store/sha256_file.h"
#include "common/status.h"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/operation_events.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::HasSubstr;

// What `git hash-object` says of `content`: the Hub's etag of a file outside LFS.
std::string GitBlobIdOf(const std::string& content) {
  testing::TempDir temp;
  testing::WriteFileBytes(temp.path() + "/blob", content);
  const testing::CommandResult hashed =
      testing::RunCommand({"git", "hash-object", temp.path() + "/blob"});
  return std::string(absl::StripAsciiWhitespace(hashed.out));
}

class DownloadTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 3 << 20;

  DownloadTest() : store_(fs::path(temp_.path()) / "models") {
    model_.id = "tiny";
    model_.name = "Tiny";
    model_.repo = "owner/Tiny-GGUF";
    model_.file = "tiny.Q4_K_M.gguf";
    model_.dir = "tiny";
    model_.revision = "main";
    model_.size_bytes = kSize;
    model_.verified = true;
    content_ = testing::GgufFileOfSize(kSize, 1);
    hub_.AddFile(model_.repo, model_.file, content_);
    settings_.hub.endpoint = hub_.endpoint();
    settings_.hub.retry = RetryPolicy{6, absl::Milliseconds(10), absl::Milliseconds(100)};
    settings_.hub.stall_timeout = absl::Seconds(1);
    settings_.fetch.connections = 4;
    settings_.fetch.parallel_min_bytes = 1 << 20;
    settings_.fetch.part_bytes = 256 << 10;          // 12 parts
    settings_.fetch.ramp_up = absl::ZeroDuration();  // all connections at once
    settings_.fetch.progress_interval = absl::Milliseconds(10);
    settings_.fetch.state_interval = absl::Milliseconds(10);
    settings_.lock_poll = absl::Milliseconds(10);
  }

  absl::StatusOr<v1::DownloadedModel> Download(bool force = false) {
    return DownloadCatalogModel(store_, model_, force, settings_, op_);
  }

  // A paced download that this test cancels once a third of it is there.
  absl::StatusOr<v1::DownloadedModel> DownloadCancelledAtAThird() {
    hub_.SetFaults({.bytes_per_second_per_connection = 1 << 20});
    std::thread canceller([this] {
      testing::WaitForProgress(op_, [](const v1::Progress& p) { return p.done() >= kSize / 3; });
      op_.RequestCancel();
    });
    absl::StatusOr<v1::DownloadedModel> downloaded = Download();
    canceller.join();
    return downloaded;
  }

  // Another download, in a new operation, with no faults and fresh statistics.
  absl::StatusOr<v1::DownloadedModel> DownloadAgain() {
    hub_.SetFaults({});
    hub_.ResetStats();
    return DownloadCatalogModel(store_, model_, false, settings_, second_op_);
  }

  fs::path Partial() const {
    return store_.ManifestPath(model_).parent_path() / (model_.file + ".partial");
  }

  std::vector<testing::FakeHubRequest> CdnRequests() const {
    std::vector<testing::FakeHubRequest> cdn;
    for (const testing::FakeHubRequest& request : hub_.requests()) {
      if (request.server == "cdn") cdn.push_back(request);
    }
    return cdn;
  }

  std::vector<std::string> Narration() const {
    return testing::LogTexts(op_, v1::LogLine::STREAM_AGENT);
  }

  // The Hub's bytes, with a manifest saying they were checked against its `verified_by` digest
  // (its etag: `etag`, by default the SHA-256 of an LFS file).
  void ExpectInstalled(const std::string& verified_by = "sha256", std::string etag = "") {
    ASSERT_EQ(testing::ReadFileBytes(store_.ModelPath(model_).string()), content_);
    std::optional<Manifest> manifest = store_.ReadManifest(model_);
    ASSERT_TRUE(manifest.has_value());
    EXPECT_EQ(manifest->sha256, Sha256Of(content_));
    EXPECT_EQ(manifest->upstream_etag, etag.empty() ? Sha256Of(content_) : etag);
    EXPECT_EQ(manifest->verified_by, verified_by);
    EXPECT_EQ(manifest->revision_commit, hub_.commit(model_.repo));
    EXPECT_EQ(manifest->size, content_.size());
    EXPECT_EQ(manifest->repo, model_.repo);
    EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
    EXPECT_FALSE(fs::exists(Partial()));
    EXPECT_FALSE(fs::exists(Partial().string() + ".json"));
  }

  void ExpectNothingInstalled() {
    EXPECT_FALSE(fs::exists(store_.ModelPath(model_)));
    EXPECT_FALSE(fs::exists(store_.ManifestPath(model_)));
    EXPECT_NE(store_.Inspect(model_).state, LocalState::kDownloaded);
  }

  // A download against a Hub answering what cannot be right (`faults`): it must fail at once,
  // with reason HUB_BAD_ANSWER, installing nothing. Its error, for the test to read.
  absl::Status DownloadAgainstABadAnswer(const testing::FakeHubFaults& faults) {
    hub_.SetFaults(faults);
    hub_.ResetStats();
    const absl::Status status = Download().status();
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
    EXPECT_EQ(GetReason(status), "HUB_BAD_ANSWER");
    ExpectNothingInstalled();
    return status;
  }

  testing::TempDir temp_;
  testing::FakeHub hub_;
  ModelStore store_;
  CatalogModel model_;
  std::string content_;
  DownloadSettings settings_;
  Operation op_{"op-1", "model.download", "tiny"};
  Operation second_op_{"op-2", "model.download", "tiny"};
};

TEST_F(DownloadTest, InstallsTheHubsBytesInParallelPartsWithAManifest) {
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  ExpectInstalled();
  EXPECT_EQ(downloaded->bytes_fetched(), kSize);
  EXPECT_FALSE(downloaded->already_present());
  EXPECT_EQ(downloaded->local_path(), store_.ModelPath(model_).string());
  EXPECT_EQ(downloaded->manifest().sha256(), Sha256Of(content_));
  // One ranged GET per part, nothing fetched twice.
  std::set<std::string> ranges;
  for (const testing::FakeHubRequest& request : CdnRequests()) ranges.insert(request.range);
  EXPECT_EQ(ranges.size(), 12u);
  EXPECT_THAT(ranges, Contains("bytes=0-262143"));
  EXPECT_EQ(hub_.bytes_sent(), kSize);
  std::vector<v1::Progress> progress = testing::ProgressOf(op_, "download");
  ASSERT_FALSE(progress.empty());
  EXPECT_EQ(progress.back().done(), kSize);
  EXPECT_EQ(progress.back().total(), kSize);
  EXPECT_EQ(progress.back().current_item(), model_.file);
}

TEST_F(DownloadTest, MoreConnectionsOpenOnlyWhenOneIsHeldBack) {
  settings_.fetch.ramp_up = absl::Milliseconds(50);
  hub_.SetFaults({.bytes_per_second_per_connection = 2 << 20});  // a CDN's per-connection limit
  ASSERT_TRUE(Download().ok());
  ExpectInstalled();
  EXPECT_THAT(Narration(),
              Contains(AllOf(HasSubstr("one connection brings"), HasSubstr("/s: opening 3 more"))));

  // As if any rate filled the line, even none yet (under load the first bytes may take longer
  // than ramp_up).
  settings_.fetch.one_connection_enough = 0;
  hub_.SetFaults({.bytes_per_second_per_connection = 8 << 20});
  Operation fast_op("op-2", "model.download", "tiny");
  ASSERT_TRUE(DownloadCatalogModel(store_, model_, /*force=*/true, settings_, fast_op).ok());
  EXPECT_THAT(testing::LogTexts(fast_op, v1::LogLine::STREAM_AGENT),
              Contains(HasSubstr("/s: no more are opened")));
}

TEST_F(DownloadTest, ASmallFileTakesOneConnection) {
  settings_.fetch.part_bytes = 0;
  settings_.fetch.parallel_min_bytes = 64 << 20;
  ASSERT_TRUE(Download().ok());
  ExpectInstalled();
  ASSERT_EQ(CdnRequests().size(), 1u);
  EXPECT_EQ(CdnRequests()[0].range, absl::StrCat("bytes=0-", kSize - 1));
}

TEST_F(DownloadTest, AlreadyDownloadedIsSaidAndNothingIsFetchedUnlessForced) {
  ASSERT_TRUE(Download().ok());
  hub_.ResetStats();
  absl::StatusOr<v1::DownloadedModel> again = Download();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->already_present());
  EXPECT_EQ(again->bytes_fetched(), 0u);
  EXPECT_TRUE(hub_.requests().empty());
  EXPECT_THAT(Narration(), Contains(HasSubstr("tiny is already downloaded and verified")));

  absl::StatusOr<v1::DownloadedModel> forced = Download(/*force=*/true);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_FALSE(forced->already_present());
  EXPECT_EQ(forced->bytes_fetched(), kSize);
  ExpectInstalled();
}

TEST_F(DownloadTest, ADroppedConnectionResumesFromWhereItBroke) {
  settings_.fetch.part_bytes = 0;
  settings_.fetch.parallel_min_bytes = 64 << 20;  // one stream, so the drop is mid-file
  hub_.SetFaults({.drop_after_bytes = 1 << 20, .drop_count = 2});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  ExpectInstalled();
  std::vector<testing::FakeHubRequest> cdn = CdnRequests();
  ASSERT_EQ(cdn.size(), 3u);
  EXPECT_EQ(cdn[0].range, absl::StrCat("bytes=0-", kSize - 1));
  EXPECT_EQ(cdn[1].range, absl::StrCat("bytes=1048576-", kSize - 1));
  EXPECT_EQ(cdn[2].range, absl::StrCat("bytes=2097152-", kSize - 1));
  EXPECT_EQ(hub_.bytes_sent(), kSize);  // nothing fetched twice
  EXPECT_EQ(downloaded->bytes_fetched(), kSize);
  EXPECT_THAT(Narration(), Contains(HasSubstr("retrying in")));
}

// After a drop at an odd byte the download goes on from the last aligned byte before it, so
// that its writes can still skip the page cache (O_DIRECT wants aligned offsets): the bytes after
// it are fetched twice. Where the filesystem refuses O_DIRECT it goes on from the odd byte.
TEST_F(DownloadTest, ADropAtAnOddByteGoesOnFromTheLastAlignedByte) {
  settings_.fetch.part_bytes = 0;
  settings_.fetch.parallel_min_bytes = 64 << 20;
  hub_.SetFaults({.drop_after_bytes = (1 << 20) + 123, .drop_count = 1});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  ExpectInstalled();
  const bool direct =
      PartialData::Create(DirFd::OpenRoot(temp_.path(), false).value(), "probe", 4096, true)
          .value()
          ->direct();
  const uint64_t resumed_at = direct ? 1 << 20 : (1 << 20) + 123;
  std::vector<testing::FakeHubRequest> cdn = CdnRequests();
  ASSERT_EQ(cdn.size(), 2u);
  EXPECT_EQ(cdn[1].range, absl::StrCat("bytes=", resumed_at, "-", kSize - 1));
  EXPECT_EQ(hub_.bytes_sent(), kSize + (1 << 20) + 123 - resumed_at);
}

TEST_F(DownloadTest, WithoutDirectWritesTheSameBytesAreInstalled) {
  settings_.fetch.direct_io = false;
  hub_.SetFaults({.drop_after_bytes = 100000, .drop_count = 3});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  ExpectInstalled();
  EXPECT_EQ(hub_.bytes_sent(), kSize);
}

// Some mirrors and proxies answer a Range request with 200 and the whole file: the file then
// comes whole, on one connection, however large; a resume skips the bytes it has.
TEST_F(DownloadTest, AServerThatIgnoresRangeGetsTheFileWholeOnOneConnection) {
  hub_.SetFaults({.ignore_range = true});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();  // 12 parts on 4 connections
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  ExpectInstalled();
  EXPECT_THAT(Narration(), Contains(AllOf(HasSubstr("answered a Range request with HTTP 200"),
                                          HasSubstr("on one connection, from its first byte"))));
  EXPECT_EQ(CdnRequests().back().range, absl::StrCat("bytes=0-", kSize - 1));
}

TEST_F(DownloadTest, AResumeFromAServerThatIgnoresRangeStartsFromTheFirstByte) {
  ASSERT_EQ(DownloadCancelledAtAThird().status().code(), absl::StatusCode::kCancelled);
  hub_.ResetStats();
  hub_.SetFaults({.ignore_range = true});
  absl::StatusOr<v1::DownloadedModel> second =
      DownloadCatalogModel(store_, model_, false, settings_, second_op_);
  ASSERT_TRUE(second.ok()) << second.status();
  ExpectInstalled();
  EXPECT_EQ(CdnRequests().back().status, 200);  // the whole file, from its first byte
  EXPECT_THAT(testing::LogTexts(second_op_, v1::LogLine::STREAM_AGENT),
              AllOf(Contains(HasSubstr("on one connection, from its first byte")),
                    Contains(AllOf(HasSubstr("the download server ignores Range requests"),
                                   HasSubstr("here already are skipped")))));
}

TEST_F(DownloadTest, ServerErrorBurstsAreRetried) {
  hub_.SetFaults({.error_count = 4, .error_status = 503});
  ASSERT_TRUE(Download().ok());
  ExpectInstalled();
  EXPECT_THAT(Narration(), Contains(AllOf(HasSubstr("HTTP 503"), HasSubstr("retrying in"))));
}

TEST_F(DownloadTest, TooManyRequestsHonoursRetryAfter) {
  hub_.SetFaults({.error_count = 1, .error_status = 429, .retry_after_seconds = 1});
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Download().ok());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));  // the server's wait, not 10 ms
  ExpectInstalled();
  EXPECT_THAT(Narration(), Contains(AllOf(HasSubstr("HTTP 429"), HasSubstr("retrying in 1s"))));
}

TEST_F(DownloadTest, RetriesRunOutIntoAClearError) {
  hub_.SetFaults({.error_count = 1000, .error_status = 502});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(downloaded.status().message(),
              AllOf(HasSubstr("HTTP 502"), HasSubstr("gave up after 6 attempts")));
  ExpectNothingInstalled();
}

TEST_F(DownloadTest, ACorruptByteIsRefusedAndNothingIsInstalled) {
  hub_.SetFaults({.corrupt_offset = kSize / 2});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kDataLoss);
  std::string corrupt = content_;
  corrupt[kSize / 2] = static_cast<char>(corrupt[kSize / 2] ^ 0xff);
  EXPECT_THAT(
      downloaded.status().message(),
      AllOf(HasSubstr("SHA-256 mismatch for tiny.Q4_K_M.gguf"), HasSubstr(Sha256Of(corrupt)),
            HasSubstr(Sha256Of(content_)), HasSubstr("nothing was installed")));
  EXPECT_EQ(GetReason(downloaded.status()), "HASH_MISMATCH");
  ExpectNothingInstalled();
  EXPECT_FALSE(fs::exists(Partial()));  // discarded: those bytes are wrong
}

TEST_F(DownloadTest, AStallReconnects) {
  settings_.fetch.part_bytes = 0;
  settings_.fetch.parallel_min_bytes = 64 << 20;
  hub_.SetFaults(
      {.stall_after_bytes = 1 << 20, .stall_count = 1, .stall_duration = absl::Seconds(30)});
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Download().ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(20));  // did not sit out the stall
  ExpectInstalled();
  EXPECT_THAT(Narration(), Contains(HasSubstr("no data for 1s")));
  EXPECT_EQ(CdnRequests().back().range, absl::StrCat("bytes=1048576-", kSize - 1));
}

TEST_F(DownloadTest, AnExpiredCdnUrlIsResolvedAgain) {
  hub_.SetFaults(
      {.bytes_per_second_per_connection = 1 << 20, .url_lifetime = absl::Milliseconds(300)});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  ExpectInstalled();
  int heads = 0;
  int refused = 0;
  for (const testing::FakeHubRequest& request : hub_.requests()) {
    if (request.server == "hub" && request.method == "HEAD") ++heads;
    if (request.server == "cdn" && request.status == 403) ++refused;
  }
  EXPECT_GE(refused, 1);
  EXPECT_GE(heads, 2);
  EXPECT_THAT(Narration(), Contains(HasSubstr("expired; asking the Hub again")));
}

TEST_F(DownloadTest, ACancelledDownloadResumesWithFewerBytesFetched) {
  absl::StatusOr<v1::DownloadedModel> first = DownloadCancelledAtAThird();
  ASSERT_EQ(first.status().code(), absl::StatusCode::kCancelled) << first.status();
  ExpectNothingInstalled();
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kPartial);
  ASSERT_TRUE(fs::exists(Partial().string() + ".json"));

  absl::StatusOr<v1::DownloadedModel> second = DownloadAgain();
  ASSERT_TRUE(second.ok()) << second.status();
  ExpectInstalled();
  EXPECT_LT(second->bytes_fetched(), kSize);
  EXPECT_EQ(hub_.bytes_sent(), second->bytes_fetched());
  EXPECT_THAT(testing::LogTexts(second_op_, v1::LogLine::STREAM_AGENT),
              Contains(HasSubstr("resuming: ")));
}

TEST_F(DownloadTest, APartialOfBytesTheHubNoLongerHasIsDiscarded) {
  ASSERT_FALSE(DownloadCancelledAtAThird().ok());
  content_ = testing::GgufFileOfSize(kSize, 2);  // a new upload of the same file
  hub_.AddFile(model_.repo, model_.file, content_);
  absl::StatusOr<v1::DownloadedModel> second = DownloadAgain();
  ASSERT_TRUE(second.ok()) << second.status();
  ExpectInstalled();  // the new bytes, not a mix
  EXPECT_EQ(second->bytes_fetched(), kSize);
  EXPECT_THAT(testing::LogTexts(second_op_, v1::LogLine::STREAM_AGENT),
              Contains(HasSubstr("discarding a partial download of other bytes")));
}

TEST_F(DownloadTest, TheTokenGoesToTheHubAndNeverToTheCdn) {
  hub_.RequireToken(model_.repo, "hf_secret");
  absl::StatusOr<v1::DownloadedModel> anonymous = Download();
  ASSERT_EQ(anonymous.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(anonymous.status().message(), HasSubstr("the Hub refused access to owner/Tiny-GGUF"));
  EXPECT_THAT(GetHint(anonymous.status()).value_or(""), HasSubstr("set HF_TOKEN"));

  settings_.hub.token = "hf_secret";
  settings_.hub.token_source = "HF_TOKEN";
  hub_.ResetStats();
  ASSERT_TRUE(Download().ok());
  ExpectInstalled();
  int hub_requests = 0;
  for (const testing::FakeHubRequest& request : hub_.requests()) {
    if (request.server == "hub") {
      ++hub_requests;
      EXPECT_EQ(request.authorization, "Bearer hf_secret");
    } else {
      EXPECT_EQ(request.authorization, "") << request.path;
    }
  }
  EXPECT_GE(hub_requests, 1);
  EXPECT_FALSE(CdnRequests().empty());
}

TEST_F(DownloadTest, OfflineTouchesNoNetworkAndSaysWhy) {
  settings_.hub.offline = true;
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(downloaded.status().message(), HasSubstr("HF_HUB_OFFLINE"));
  EXPECT_TRUE(hub_.requests().empty());
  ExpectNothingInstalled();

  settings_.hub.offline = false;
  ASSERT_TRUE(Download().ok());
  settings_.hub.offline = true;
  hub_.ResetStats();
  absl::StatusOr<v1::DownloadedModel> present = Download();
  ASSERT_TRUE(present.ok()) << present.status();  // what is on disk needs no network
  EXPECT_TRUE(present->already_present());
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(DownloadTest, NotFoundNamesRepoFileAndRevision) {
  model_.file = "tiny.f16.gguf";
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(downloaded.status().message(),
              AllOf(HasSubstr("tiny.f16.gguf"), HasSubstr("owner/Tiny-GGUF"), HasSubstr("main")));
  EXPECT_EQ(GetReason(downloaded.status()), "HUB_NOT_FOUND");

  model_.repo = "owner/Missing";
  model_.verified = false;
  model_.note = "the repo may publish no f16 file";
  downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(downloaded.status().message(), AllOf(HasSubstr("repository owner/Missing not found"),
                                                   HasSubstr("tiny.f16.gguf"), HasSubstr("main")));
  EXPECT_THAT(GetHint(downloaded.status()).value_or(""),
              HasSubstr("the catalog marks tiny unverified: the repo may publish no f16 file"));

  model_.repo = "owner/Tiny-GGUF";
  model_.file = "tiny.Q4_K_M.gguf";
  model_.revision = "v9";
  downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(downloaded.status().message(),
              HasSubstr("revision 'v9' not found in owner/Tiny-GGUF"));
}

TEST_F(DownloadTest, NotEnoughDiskSpaceIsRefusedBeforeAnyByte) {
  hub_.AdvertiseSize(model_.repo, model_.file, uint64_t{1} << 60);  // an exabyte
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(downloaded.status().message(),
              AllOf(HasSubstr("not enough disk space for tiny.Q4_K_M.gguf"),
                    HasSubstr("(1152921504606846976 bytes)"), HasSubstr(" free")));
  EXPECT_EQ(GetReason(downloaded.status()), "NOT_ENOUGH_SPACE");
  EXPECT_TRUE(CdnRequests().empty());
  EXPECT_FALSE(fs::exists(Partial()));
}

TEST_F(DownloadTest, AFileWithoutManifestIsAdoptedWhenItIsTheHubs) {
  testing::WriteFileBytes(store_.ModelPath(model_).string(), content_);  // left by the bash script
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kUnverified);
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_TRUE(downloaded->adopted());
  EXPECT_FALSE(downloaded->already_present());
  EXPECT_EQ(downloaded->bytes_fetched(), 0u);
  EXPECT_TRUE(CdnRequests().empty());
  ExpectInstalled();
  EXPECT_THAT(Narration(), Contains(HasSubstr("adopted, nothing downloaded")));
}

// phi3's file on older hosts has a lower-cased name: found, renamed, adopted, not downloaded.
TEST_F(DownloadTest, AFileUnderAFormerNameIsRenamedAndAdopted) {
  model_.former_files = {"TINY.Q4_K_M.gguf"};
  const fs::path former = store_.ModelPath(model_).parent_path() / "TINY.Q4_K_M.gguf";
  testing::WriteFileBytes(former.string(), content_);
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_TRUE(downloaded->adopted());
  EXPECT_FALSE(downloaded->already_present());
  EXPECT_TRUE(CdnRequests().empty());
  ExpectInstalled();
  EXPECT_FALSE(fs::exists(former));
  EXPECT_THAT(Narration(), Contains(HasSubstr("found TINY.Q4_K_M.gguf, the name older hosts gave "
                                              "tiny.Q4_K_M.gguf: renamed it")));
}

TEST_F(DownloadTest, AFileWithoutManifestThatDiffersIsReplaced) {
  std::string other = testing::GgufFileOfSize(kSize, 7);
  testing::WriteFileBytes(store_.ModelPath(model_).string(), other);
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_FALSE(downloaded->already_present());
  EXPECT_FALSE(downloaded->adopted());
  ExpectInstalled();
}

TEST_F(DownloadTest, ASecondDownloadOfTheSameModelWaitsAndFindsItDone) {
  hub_.SetFaults({.bytes_per_second_per_connection = 2 << 20});
  absl::StatusOr<v1::DownloadedModel> first;
  std::thread first_download([&] { first = Download(); });
  ASSERT_TRUE(testing::WaitForProgress(op_, [](const v1::Progress& p) { return p.done() > 0; }));
  absl::StatusOr<v1::DownloadedModel> second =
      DownloadCatalogModel(store_, model_, false, settings_, second_op_);
  first_download.join();
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(second->already_present());
  // It waited, PENDING, for the first operation (this agent's, so by its id, not the pid).
  std::vector<v1::WaitingFor> waits;
  for (const v1::OperationEvent& event : second_op_.EventsAfter(0)) {
    if (event.has_waiting_for()) {
      EXPECT_EQ(event.state(), v1::OPERATION_STATE_PENDING);
      waits.push_back(event.waiting_for());
    }
  }
  ASSERT_EQ(waits.size(), 1u);
  EXPECT_EQ(waits[0].operation_id(), op_.id());
  EXPECT_EQ(waits[0].pid(), 0);
  EXPECT_EQ(waits[0].resource(), "model tiny");
  EXPECT_EQ(hub_.bytes_sent(), kSize);  // fetched once
  ExpectInstalled();
  EXPECT_FALSE(fs::exists(store_.LockPath(model_)));
}

TEST_F(DownloadTest, VerifyAdoptsAFileWithoutManifestByAskingTheHub) {
  testing::WriteFileBytes(store_.ModelPath(model_).string(), content_);
  absl::StatusOr<v1::ModelVerification> verification =
      VerifyModel(store_, model_, {}, HubLookup(settings_.hub));
  ASSERT_TRUE(verification.ok()) << verification.status();
  EXPECT_TRUE(verification->ok()) << verification->files(0).problem();
  EXPECT_TRUE(verification->files(0).adopted());
  ExpectInstalled();
}

// --- The Hub's digest: a SHA-256, or a git blob id; never none ---

// A Hub that announces the file by its git blob id (as it does files outside LFS), with a CDN
// that sends other bytes: the git blob id is computed while the bytes stream in, and required.
TEST_F(DownloadTest, AGitBlobIdEtagIsRequiredOfTheBytes) {
  hub_.SetFaults({.corrupt_offset = kSize / 2, .sha1_etags = true});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kDataLoss) << downloaded.status();
  EXPECT_THAT(downloaded.status().message(),
              AllOf(HasSubstr("git blob id mismatch for tiny.Q4_K_M.gguf"),
                    HasSubstr("nothing was installed")));
  EXPECT_EQ(GetReason(downloaded.status()), "HASH_MISMATCH");
  ExpectNothingInstalled();
  EXPECT_FALSE(fs::exists(Partial()));

  hub_.SetFaults({.sha1_etags = true});
  hub_.ResetStats();
  absl::StatusOr<v1::DownloadedModel> good =
      DownloadCatalogModel(store_, model_, false, settings_, second_op_);
  ASSERT_TRUE(good.ok()) << good.status();
  ExpectInstalled("git-sha1", GitBlobIdOf(content_));
  EXPECT_EQ(good->manifest().verified_by(), "git-sha1");
  EXPECT_EQ(good->manifest().sha256(), Sha256Of(content_));  // ours, for later verifies
  EXPECT_THAT(testing::LogTexts(second_op_, v1::LogLine::STREAM_AGENT),
              Contains(HasSubstr("git blob id matches the Hub's")));
}

TEST_F(DownloadTest, AFileOutsideLfsWithoutManifestIsAdoptedByItsGitBlobId) {
  testing::WriteFileBytes(store_.ModelPath(model_).string(), content_);
  hub_.SetFaults({.sha1_etags = true});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_TRUE(downloaded->adopted());
  EXPECT_TRUE(CdnRequests().empty());
  ExpectInstalled("git-sha1", GitBlobIdOf(content_));
}

// An etag that is no digest (a mirror that rewrites them) vouches for nothing: nothing is
// downloaded, rather than installed as verified.
TEST_F(DownloadTest, AFileTheHubGivesNoDigestOfIsNotDownloaded) {
  hub_.SetFaults({.etag = "\"abc-123\""});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetReason(downloaded.status()), "HUB_NO_DIGEST");
  EXPECT_THAT(downloaded.status().message(),
              AllOf(HasSubstr("\"abc-123\""), HasSubstr("neither a SHA-256"),
                    HasSubstr("none are fetched")));
  EXPECT_TRUE(CdnRequests().empty());
  ExpectNothingInstalled();
}

// --- Space ---

// A download that fails keeps what it fetched for the next one, and gives back the space it
// had reserved for the rest.
TEST_F(DownloadTest, AFailedDownloadHoldsOnlyTheSpaceOfWhatItFetched) {
  settings_.fetch.part_bytes = 0;
  settings_.fetch.parallel_min_bytes = 64 << 20;
  settings_.hub.retry.max_attempts = 1;
  hub_.SetFaults({.drop_after_bytes = 1 << 20, .drop_count = 1});
  absl::StatusOr<v1::DownloadedModel> failed = Download();
  ASSERT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  struct stat info {};
  ASSERT_EQ(stat(Partial().c_str(), &info), 0);
  EXPECT_EQ(static_cast<uint64_t>(info.st_size), kSize);
  EXPECT_LE(static_cast<uint64_t>(info.st_blocks) * 512, (1 << 20) + (64 << 10));

  absl::StatusOr<v1::DownloadedModel> second = DownloadAgain();
  ASSERT_TRUE(second.ok()) << second.status();
  ExpectInstalled();
  EXPECT_EQ(second->bytes_fetched(), kSize - (1 << 20));  // the kept MiB was not fetched again
}

// --- Answers no retry can mend fail at once, saying why: one request, no retries ---

TEST_F(DownloadTest, ARedirectToAnotherSchemeFailsAtOnce) {
  for (const std::string location : {"file:///etc/passwd", "gopher://127.0.0.1:70/1"}) {
    SCOPED_TRACE(location);
    const absl::Status status = DownloadAgainstABadAnswer({.redirect_location = location});
    EXPECT_THAT(status.message(), AllOf(HasSubstr(location.substr(0, location.find(':'))),
                                        HasSubstr("not an http or https URL")));
    EXPECT_EQ(hub_.requests().size(), 1u);  // the HEAD
  }
}

TEST_F(DownloadTest, HeadersOverTheLimitFailAtOnce) {
  // Over libcurl's own limit (300 KiB) too, whose error looked like a network one.
  const absl::Status status = DownloadAgainstABadAnswer({.extra_header_bytes = 512 << 10});
  EXPECT_THAT(status.message(), HasSubstr("response headers over 64 KiB"));
  EXPECT_THAT(GetHint(status).value_or(""), HasSubstr("proxy"));
  EXPECT_EQ(hub_.requests().size(), 1u);
}

TEST_F(DownloadTest, AContentRangeThatContradictsTheHubsSizeFailsAtOnce) {
  settings_.fetch.part_bytes = 0;
  settings_.fetch.parallel_min_bytes = 64 << 20;  // one request, so the count is exact
  const absl::Status status = DownloadAgainstABadAnswer({.content_range_total = kSize * 2});
  EXPECT_THAT(status.message(), AllOf(HasSubstr(absl::StrCat("a file of ", kSize * 2, " bytes")),
                                      HasSubstr(absl::StrCat("the Hub says ", kSize))));
  EXPECT_EQ(CdnRequests().size(), 1u);
}

TEST_F(DownloadTest, AnInvalidLinkedSizeIsSaidToBeInvalidAndFailsAtOnce) {
  for (const std::string size : {"-5", "12abc", "99999999999999999999999"}) {
    SCOPED_TRACE(size);
    const absl::Status status = DownloadAgainstABadAnswer({.linked_size = size});
    EXPECT_THAT(status.message(),
                AllOf(HasSubstr("invalid X-Linked-Size header (\"" + size + "\")"),
                      ::testing::Not(HasSubstr("has no"))));
    EXPECT_EQ(hub_.requests().size(), 1u);  // the HEAD
  }
}

// A converted model: only the source files the catalog asks for, verified, pinned to one
// commit, then fake_converter (in place of python3) makes the GGUF file.
class ConvertedDownloadTest : public DownloadTest {
 protected:
  ConvertedDownloadTest() {
    model_.id = "gpt2";
    model_.repo = "openai-community/gpt2";
    model_.file = "gpt2-fp32.gguf";
    model_.dir = "gpt2";
    model_.size_bytes = 8000;
    model_.conversion = ModelConversion{"llama.cpp",
                                        "reference/llama.cpp/convert_hf_to_gguf.py",
                                        {"--outtype", "f32"},
                                        {"config.json", "tokenizer.json", "*.safetensors"},
                                        "f32"};
    sources_ = {{"config.json", "{\"architectures\": [\"GPT2LMHeadModel\"]}\n"},
                {"tokenizer.json", "{\"model\": {}}\n"},
                {"model.safetensors", testing::GgufFileOfSize(2 << 20, 3)}};
    hub_.AddFile(model_.repo, "config.json", sources_["config.json"], /*lfs=*/false);
    hub_.AddFile(model_.repo, "tokenizer.json", sources_["tokenizer.json"], /*lfs=*/false);
    hub_.AddFile(model_.repo, "model.safetensors", sources_["model.safetensors"]);
    hub_.AddFile(model_.repo, "pytorch_model.bin", std::string(1 << 20, 'p'));
    hub_.AddFile(model_.repo, "onnx/model.safetensors", std::string(1 << 20, 'o'));
    hub_.AddFile(model_.repo, "README.md", "# gpt2\n", /*lfs=*/false);
    testing::WriteFileBytes(Script().string(), "# fake_converter runs in place of python3\n");
    settings_.convert.python = FAKE_CONVERTER;
    settings_.convert.repo_root = fs::path(temp_.path()) / "repo";
    settings_.convert.env = {{"FAKE_CONVERTER_ARGV", temp_.path() + "/argv.log"}};
    settings_.convert.poll_interval = absl::Milliseconds(5);
  }

  fs::path Script() const {
    return fs::path(temp_.path()) / "repo/reference/llama.cpp/convert_hf_to_gguf.py";
  }
  fs::path Source() const { return store_.models_dir() / "gpt2" / "source"; }

  std::map<std::string, std::string> sources_;
};

TEST_F(ConvertedDownloadTest, FetchesOnlyTheSourcePatternsThenConverts) {
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_TRUE(downloaded->converted());
  uint64_t source_bytes = 0;
  for (const auto& [path, bytes] : sources_) {
    EXPECT_EQ(testing::ReadFileBytes((Source() / path).string()), bytes) << path;
    source_bytes += bytes.size();
  }
  EXPECT_EQ(downloaded->bytes_fetched(), source_bytes);
  for (const testing::FakeHubRequest& request : hub_.requests()) {
    EXPECT_THAT(request.path, ::testing::Not(HasSubstr("pytorch_model.bin")));
    EXPECT_THAT(request.path, ::testing::Not(HasSubstr("onnx")));
    EXPECT_THAT(request.path, ::testing::Not(HasSubstr("README.md")));
  }
  std::optional<Manifest> manifest = store_.ReadManifest(model_);
  ASSERT_TRUE(manifest.has_value());
  EXPECT_EQ(manifest->revision_commit, hub_.commit(model_.repo));
  EXPECT_EQ(manifest->sha256, *Sha256File(store_.ModelPath(model_).string()));
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
  EXPECT_THAT(testing::ReadFileBytes(temp_.path() + "/argv.log"),
              HasSubstr(Source().string() + " --outfile "));
  ASSERT_FALSE(testing::ProgressOf(op_, "fetch").empty());
  EXPECT_EQ(testing::ProgressOf(op_, "fetch").back().done(), source_bytes);
}

TEST_F(ConvertedDownloadTest, AForcedRunKeepsVerifiedSourcesAndConvertsAgain) {
  ASSERT_TRUE(Download().ok());
  hub_.ResetStats();
  absl::StatusOr<v1::DownloadedModel> again = Download(/*force=*/true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->converted());
  EXPECT_EQ(again->bytes_fetched(), 0u);
  EXPECT_TRUE(CdnRequests().empty());
}

TEST_F(ConvertedDownloadTest, AMissingConverterIsSaidBeforeAnyFileIsFetched) {
  fs::remove(Script());
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(downloaded.status().message(), HasSubstr(Script().string() + " does not exist"));
  EXPECT_THAT(GetHint(downloaded.status()).value_or(""),
              HasSubstr("llorch-pool git submodules update --name reference/llama.cpp"));
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(ConvertedDownloadTest, ASourceFileWithOtherBytesThanTheHubsIsRefused) {
  hub_.SetFaults({.corrupt_offset = 3});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download();
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(downloaded.status().message(), HasSubstr("git blob id mismatch for config.json"));
  EXPECT_FALSE(fs::exists(Source() / "config.json"));
  ExpectNothingInstalled();
}

}  // namespace
}  // namespace llorch
