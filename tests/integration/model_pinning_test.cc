// Pinned catalogs against tests/support/fake_hub: `models lock` writes the Hub's commit, SHA-256
// and size (HEADs only, the same bytes every time); a pinned download installs the pinned bytes
// after the Hub moved on, or fails naming both when the Hub gives others; a file copied from
// another host is adopted against the pin with the Hub offline; verify checks the pin.
#include "agent/models/model_pinning.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "agent/models/catalog_lock.h"
#include "agent/models/model_download.h"
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
using ::testing::Contains;
using ::testing::HasSubstr;

constexpr char kCatalog[] = R"([[models]]
id = "tiny"
name = "Tiny"
repo = "owner/Tiny-GGUF"
file = "tiny.Q4_K_M.gguf"
dir = "tiny"
size_bytes = 262144

[[models]]
id = "small"
name = "Small"
repo = "owner/Small-GGUF"
file = "small.gguf"
dir = "small"
size_bytes = 262144
)";

class PinningTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 256 << 10;

  PinningTest()
      : catalog_(*Catalog::Parse(kCatalog, "catalog.toml")),
        model_(*catalog_.Find("tiny")),
        store_(fs::path(temp_.path()) / "models"),
        lock_path_(temp_.path() + "/catalog.lock.toml"),
        lock_file_(lock_path_, CatalogLock()) {
    v1_ = testing::GgufFileOfSize(kSize, 1);
    v2_ = testing::GgufFileOfSize(kSize, 2);
    hub_.AddFile(model_.repo, model_.file, v1_);
    hub_.AddFile("owner/Small-GGUF", "small.gguf", testing::GgufFileOfSize(kSize, 3));
    settings_.hub.endpoint = hub_.endpoint();
    settings_.hub.retry = RetryPolicy{3, absl::Milliseconds(10), absl::Milliseconds(50)};
    settings_.lock_poll = absl::Milliseconds(10);
    settings_.pins = std::shared_ptr<LockFile>(&lock_file_, [](LockFile*) {});
  }

  absl::StatusOr<v1::LockModelsResponse> Lock(std::vector<std::string> ids, bool update = false,
                                              bool unpin = false) {
    std::vector<const CatalogModel*> models;
    for (const std::string& id : ids) models.push_back(catalog_.Find(id));
    return PinModels(models, lock_file_, settings_.hub, update, unpin);
  }

  absl::StatusOr<v1::DownloadedModel> Download(Operation& op, bool force = false) {
    return DownloadCatalogModel(store_, model_, force, settings_, op);
  }

  std::string Installed() const {
    return testing::ReadFileBytes(store_.ModelPath(model_).string());
  }

  testing::TempDir temp_;
  testing::FakeHub hub_;
  const Catalog catalog_;
  const CatalogModel& model_;
  ModelStore store_;
  const std::string lock_path_;
  LockFile lock_file_;
  DownloadSettings settings_;
  std::string v1_;
  std::string v2_;
  Operation op_{"op-1", "model.download", "tiny"};
  Operation second_op_{"op-2", "model.download", "tiny"};
};

TEST_F(PinningTest, LockWritesTheHubsCommitDigestAndSizeWithHeadsOnly) {
  hub_.ResetStats();
  absl::StatusOr<v1::LockModelsResponse> locked = Lock({"tiny"});
  ASSERT_TRUE(locked.ok()) << locked.status();
  ASSERT_EQ(locked->models_size(), 1);
  const v1::LockedModel& tiny = locked->models(0);
  EXPECT_EQ(tiny.action(), v1::LockedModel::ACTION_PINNED);
  EXPECT_EQ(tiny.pin().commit(), hub_.commit(model_.repo));
  ASSERT_EQ(tiny.pin().files_size(), 1);
  EXPECT_EQ(tiny.pin().files(0).sha256(), Sha256Of(v1_));
  EXPECT_EQ(tiny.pin().files(0).size_bytes(), kSize);
  EXPECT_TRUE(locked->written());
  EXPECT_EQ(locked->lock_file(), lock_path_);
  for (const testing::FakeHubRequest& request : hub_.requests()) {
    EXPECT_EQ(request.method, "HEAD");
    EXPECT_EQ(request.server, "hub");
  }
  EXPECT_EQ(hub_.bytes_sent(), 0u);
  // On disk, as another agent would read it.
  absl::StatusOr<CatalogLock> read = CatalogLock::LoadFile(lock_path_, catalog_);
  ASSERT_TRUE(read.ok()) << read.status();
  const ModelPin* pin = read->Find("tiny");
  ASSERT_NE(pin, nullptr);
  EXPECT_EQ(pin->commit, hub_.commit(model_.repo));
  EXPECT_EQ(pin->files[0].sha256, Sha256Of(v1_));
  EXPECT_EQ(pin->files[0].size, kSize);
  EXPECT_THAT(testing::ReadFileBytes(lock_path_),
              HasSubstr("[models.tiny]\nrepo = \"owner/Tiny-GGUF\"\nrevision = \"main\"\n"));
}

TEST_F(PinningTest, TheLockFilesBytesAreStableAcrossRuns) {
  ASSERT_TRUE(Lock({"small", "tiny"}).ok());
  const std::string first = testing::ReadFileBytes(lock_path_);
  // Again, everything already pinned: nothing written.
  absl::StatusOr<v1::LockModelsResponse> again = Lock({"tiny", "small"});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_FALSE(again->written());
  EXPECT_EQ(again->models(0).action(), v1::LockedModel::ACTION_KEPT);
  // Unpinned and pinned again, in another order, from another process's view: the same bytes.
  ASSERT_TRUE(Lock({"tiny", "small"}, false, /*unpin=*/true).ok());
  EXPECT_EQ(testing::ReadFileBytes(lock_path_).find("[models."), std::string::npos);
  ASSERT_TRUE(Lock({"tiny", "small"}).ok());
  EXPECT_EQ(testing::ReadFileBytes(lock_path_), first);
  EXPECT_LT(first.find("[models.small]"), first.find("[models.tiny]"));
}

TEST_F(PinningTest, AHubThatMovedOnIsReportedAndFollowedOnlyWithUpdate) {
  ASSERT_TRUE(Lock({"tiny"}).ok());
  const std::string pinned = hub_.commit(model_.repo);
  hub_.AddFile(model_.repo, model_.file, v2_);
  absl::StatusOr<v1::LockModelsResponse> kept = Lock({"tiny"});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_EQ(kept->models(0).action(), v1::LockedModel::ACTION_KEPT);
  EXPECT_EQ(kept->models(0).pin().commit(), pinned);
  EXPECT_EQ(kept->models(0).hub_commit(), hub_.commit(model_.repo));
  EXPECT_FALSE(kept->written());

  absl::StatusOr<v1::LockModelsResponse> updated = Lock({"tiny"}, /*update=*/true);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ(updated->models(0).action(), v1::LockedModel::ACTION_UPDATED);
  EXPECT_EQ(updated->models(0).previous_commit(), pinned);
  EXPECT_EQ(updated->models(0).pin().files(0).sha256(), Sha256Of(v2_));
  EXPECT_EQ(lock_file_.Find("tiny")->commit, hub_.commit(model_.repo));
}

TEST_F(PinningTest, APinnedDownloadAfterTheHubMovedInstallsThePinnedBytes) {
  ASSERT_TRUE(Lock({"tiny"}).ok());
  const std::string pinned = hub_.commit(model_.repo);
  hub_.AddFile(model_.repo, model_.file, v2_);
  absl::StatusOr<v1::DownloadedModel> downloaded = Download(op_);
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_TRUE(Installed() == v1_);
  EXPECT_TRUE(downloaded->pinned());
  EXPECT_EQ(downloaded->hub_commit(), hub_.commit(model_.repo));
  EXPECT_EQ(downloaded->manifest().revision_commit(), pinned);
  EXPECT_EQ(downloaded->manifest().sha256(), Sha256Of(v1_));
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_AGENT),
              Contains(HasSubstr("the Hub moved on: main of owner/Tiny-GGUF is at commit " +
                                 hub_.commit(model_.repo) + ", the lock pins " + pinned)));
}

TEST_F(PinningTest, APinnedDownloadFailsWhenTheHubGivesOtherBytesAtThePinnedCommit) {
  ASSERT_TRUE(Lock({"tiny"}).ok());
  const std::string other(64, 'e');
  hub_.SetFaults({.etag = "\"" + other + "\""});
  absl::StatusOr<v1::DownloadedModel> downloaded = Download(op_);
  ASSERT_EQ(downloaded.status().code(), absl::StatusCode::kFailedPrecondition)
      << downloaded.status();
  EXPECT_EQ(GetReason(downloaded.status()), "PIN_MISMATCH");
  EXPECT_EQ(downloaded.status().message(),
            "tiny is pinned in " + lock_path_ + ": the Hub now gives tiny.Q4_K_M.gguf as SHA-256 " +
                other + " (262144 bytes) at commit " + hub_.commit(model_.repo) +
                ", the lock pins SHA-256 " + Sha256Of(v1_) + " (262144 bytes) at commit " +
                hub_.commit(model_.repo) + "; nothing was installed");
  EXPECT_EQ(GetHint(downloaded.status()).value_or(""),
            "`llorch-pool models lock --update tiny` pins what the Hub has now, or "
            "`llorch-pool models lock --unpin tiny` removes the pin");
  EXPECT_FALSE(fs::exists(store_.ModelPath(model_)));
  EXPECT_EQ(hub_.bytes_sent(), 0u);
}

TEST_F(PinningTest, AnInstalledVersionOtherThanThePinnedOneIsReplaced) {
  ASSERT_TRUE(Download(op_).ok());  // not pinned yet: v1
  hub_.AddFile(model_.repo, model_.file, v2_);
  ASSERT_TRUE(Lock({"tiny"}).ok());  // pins v2
  absl::StatusOr<v1::DownloadedModel> downloaded = Download(second_op_);
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_FALSE(downloaded->already_present());
  EXPECT_TRUE(Installed() == v2_);
}

TEST_F(PinningTest, AFileFromAnotherHostIsAdoptedAgainstThePinWithTheHubOffline) {
  ASSERT_TRUE(Lock({"tiny"}).ok());
  fs::create_directories(store_.ModelPath(model_).parent_path());
  testing::WriteFileBytes(store_.ModelPath(model_).string(), v1_);
  hub_.ResetStats();
  settings_.hub.offline = true;
  absl::StatusOr<v1::DownloadedModel> downloaded = Download(op_);
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_TRUE(downloaded->adopted());
  EXPECT_EQ(downloaded->manifest().revision_commit(), hub_.commit(model_.repo));
  EXPECT_TRUE(hub_.requests().empty());
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
}

TEST_F(PinningTest, VerifyChecksAgainstThePinWithoutTheHub) {
  ASSERT_TRUE(Lock({"tiny"}).ok());
  const ModelPin pin = *lock_file_.Find("tiny");
  const UpstreamFile pinned{pin.files[0].sha256, pin.files[0].size, pin.commit,
                            pin.files[0].sha256};
  fs::create_directories(store_.ModelPath(model_).parent_path());
  // Other bytes of the same size, no manifest: refused by the pin.
  testing::WriteFileBytes(store_.ModelPath(model_).string(), v2_);
  hub_.ResetStats();
  absl::StatusOr<v1::ModelVerification> wrong = VerifyModel(store_, model_, {}, {}, pinned);
  ASSERT_TRUE(wrong.ok()) << wrong.status();
  EXPECT_FALSE(wrong->ok());
  EXPECT_TRUE(wrong->files(0).pinned());
  EXPECT_EQ(wrong->files(0).problem(),
            "SHA-256 is " + Sha256Of(v2_) + ", the lock pins " + Sha256Of(v1_));
  // The pinned bytes: adopted, the manifest records the pinned commit.
  testing::WriteFileBytes(store_.ModelPath(model_).string(), v1_);
  absl::StatusOr<v1::ModelVerification> right = VerifyModel(store_, model_, {}, {}, pinned);
  ASSERT_TRUE(right.ok()) << right.status();
  EXPECT_TRUE(right->ok()) << right->files(0).problem();
  EXPECT_TRUE(right->files(0).adopted());
  EXPECT_EQ(store_.ReadManifest(model_)->revision_commit, pin.commit);
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(PinningTest, AManifestOfOtherBytesThanThePinnedOnesFailsVerify) {
  ASSERT_TRUE(Download(op_).ok());  // v1, not pinned
  hub_.AddFile(model_.repo, model_.file, v2_);
  ASSERT_TRUE(Lock({"tiny"}).ok());  // pins v2
  const ModelPin pin = *lock_file_.Find("tiny");
  absl::StatusOr<v1::ModelVerification> verified = VerifyModel(
      store_, model_, {}, {},
      UpstreamFile{pin.files[0].sha256, pin.files[0].size, pin.commit, pin.files[0].sha256});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_FALSE(verified->ok());
  EXPECT_EQ(verified->files(0).expected_sha256(), Sha256Of(v2_));
  EXPECT_THAT(verified->files(0).problem(),
              HasSubstr("the lock pins " + Sha256Of(v2_) + " (262144 bytes, commit " + pin.commit +
                        "): not the pinned version"));
  EXPECT_TRUE(store_.ReadManifest(model_).has_value());  // the bytes are what it says
}

TEST_F(PinningTest, APinThatNoLongerFitsTheCatalogStopsTheDownload) {
  CatalogLock lock;
  lock.Set("tiny",
           {model_.repo, "main", hub_.commit(model_.repo), {{"old.gguf", Sha256Of(v1_), kSize}}});
  ASSERT_TRUE(lock_file_.Store(lock).ok());
  absl::StatusOr<v1::DownloadedModel> downloaded = Download(op_);
  EXPECT_EQ(GetReason(downloaded.status()), "PIN_MISMATCH");
  EXPECT_THAT(downloaded.status().message(),
              HasSubstr("the pin no longer fits the catalog (the lock pins old.gguf, the "
                        "catalog's file is tiny.Q4_K_M.gguf)"));
  // Plain `models lock` pins it again: the catalog changed on purpose.
  absl::StatusOr<v1::LockModelsResponse> relocked = Lock({"tiny"});
  ASSERT_TRUE(relocked.ok()) << relocked.status();
  EXPECT_EQ(relocked->models(0).action(), v1::LockedModel::ACTION_UPDATED);
  EXPECT_TRUE(Download(second_op_).ok());
}

TEST_F(PinningTest, AModelTheHubLacksFailsAloneAndNoLockFileIsRefused) {
  absl::StatusOr<Catalog> catalog =
      Catalog::Parse(std::string(kCatalog) +
                         "\n[[models]]\nid = \"gone\"\nname = \"Gone\"\nrepo = "
                         "\"owner/Gone\"\nfile = \"gone.gguf\"\ndir = \"gone\"\nsize_bytes = 1\n",
                     "catalog.toml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<v1::LockModelsResponse> locked = PinModels(
      {catalog->Find("gone"), catalog->Find("tiny")}, lock_file_, settings_.hub, false, false);
  ASSERT_TRUE(locked.ok()) << locked.status();
  EXPECT_EQ(locked->models(0).action(), v1::LockedModel::ACTION_FAILED);
  EXPECT_THAT(locked->models(0).error(), HasSubstr("owner/Gone"));
  EXPECT_EQ(locked->models(1).action(), v1::LockedModel::ACTION_PINNED);
  EXPECT_TRUE(locked->written());

  LockFile none("", CatalogLock());
  absl::StatusOr<v1::LockModelsResponse> refused =
      PinModels({&model_}, none, settings_.hub, false, false);
  EXPECT_EQ(GetReason(refused.status()), "NO_LOCK_FILE");
  HubOptions offline = settings_.hub;
  offline.offline = true;
  EXPECT_EQ(GetReason(PinModels({&model_}, lock_file_, offline, false, false).status()),
            "HUB_OFFLINE");
}

}  // namespace
}  // namespace llorch
