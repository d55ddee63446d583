#include "agent/models/model_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/models/store/sha256_file.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {
namespace fs = std::filesystem;
using ::testing::HasSubstr;

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

TEST(Sha256FileTest, MatchesKnownDigests) {
  testing::TempDir temp;
  WriteFile(fs::path(temp.path()) / "empty", "");
  WriteFile(fs::path(temp.path()) / "abc", "abc");
  EXPECT_EQ(*Sha256File(temp.path() + "/empty"),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(*Sha256File(temp.path() + "/abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(Sha256File(temp.path() + "/missing").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Sha256Of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(Sha256FileTest, StopsWhenProgressSaysSo) {
  testing::TempDir temp;
  WriteFile(fs::path(temp.path()) / "big", std::string(20 << 20, 'x'));
  uint64_t calls = 0;
  absl::StatusOr<std::string> digest = Sha256File(temp.path() + "/big", [&](uint64_t done) {
    ++calls;
    return done < (4 << 20);  // stop after the first chunk
  });
  EXPECT_EQ(digest.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(calls, 1u);  // not one chunk more
}

class ModelVerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_.id = "tiny";
    model_.dir = "tiny";
    model_.file = "tiny.gguf";
    testing::GgufBuilder gguf(3);
    gguf.AddString("general.architecture", "llama");
    gguf.AddTensor("w", {4, 4});
    content_ = gguf.Build() + std::string(1000, '\x01');
    WriteFile(store_.ModelPath(model_), content_);
    Manifest manifest;
    manifest.file = model_.file;
    manifest.size = content_.size();
    manifest.sha256 = *Sha256File(store_.ModelPath(model_).string());
    ASSERT_TRUE(store_.WriteManifest(model_, manifest).ok());
  }

  pool::v1::FileVerification Verify(const UpstreamLookup& lookup = {}) {
    absl::StatusOr<pool::v1::ModelVerification> result = VerifyModel(store_, model_, {}, lookup);
    EXPECT_TRUE(result.ok()) << result.status();
    EXPECT_EQ(result->files_size(), 1);
    return result->files(0);
  }

  testing::TempDir temp_;
  ModelStore store_{fs::path(temp_.path()) / "models"};
  CatalogModel model_;
  std::string content_;
};

TEST_F(ModelVerifierTest, IntactFilePassesEveryCheck) {
  pool::v1::FileVerification file = Verify();
  EXPECT_TRUE(file.ok()) << file.problem();
  EXPECT_TRUE(file.present());
  EXPECT_TRUE(file.size_matches());
  EXPECT_TRUE(file.gguf_valid());
  EXPECT_EQ(file.actual_sha256(), file.expected_sha256());
  EXPECT_EQ(file.path(), "tiny/tiny.gguf");
}

TEST_F(ModelVerifierTest, CatchesAFlippedByte) {
  std::string flipped = content_;
  flipped[flipped.size() - 10] ^= 0x01;
  WriteFile(store_.ModelPath(model_), flipped);
  pool::v1::FileVerification file = Verify();
  EXPECT_FALSE(file.ok());
  EXPECT_TRUE(file.size_matches());
  EXPECT_NE(file.actual_sha256(), file.expected_sha256());
  EXPECT_THAT(file.problem(), HasSubstr("SHA-256 is " + file.actual_sha256()));
  EXPECT_THAT(file.problem(), HasSubstr("the manifest says " + file.expected_sha256()));
  // The manifest vouched for other bytes: it goes, and the model is no longer "downloaded".
  EXPECT_TRUE(file.manifest_withdrawn());
  EXPECT_THAT(file.problem(), HasSubstr("the manifest is withdrawn"));
  EXPECT_FALSE(store_.ReadManifest(model_).has_value());
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kUnverified);
  EXPECT_EQ(testing::ReadFileBytes(store_.ModelPath(model_).string()), flipped);  // kept
}

TEST_F(ModelVerifierTest, CatchesATruncatedFile) {
  WriteFile(store_.ModelPath(model_), content_.substr(0, content_.size() / 2));
  pool::v1::FileVerification file = Verify();
  EXPECT_FALSE(file.ok());
  EXPECT_FALSE(file.size_matches());
  EXPECT_EQ(file.size_bytes(), content_.size() / 2);
  EXPECT_EQ(file.expected_size_bytes(), content_.size());
  EXPECT_THAT(file.problem(), HasSubstr("the manifest says " + std::to_string(content_.size())));
}

TEST_F(ModelVerifierTest, CatchesAMissingFile) {
  fs::remove(store_.ModelPath(model_));
  pool::v1::FileVerification file = Verify();
  EXPECT_FALSE(file.ok());
  EXPECT_FALSE(file.present());
  EXPECT_EQ(file.problem(), "the model file is missing");
}

TEST_F(ModelVerifierTest, AMissingFileUnderAFormerNameSaysHowToAdoptIt) {
  model_.former_files = {"TINY.gguf"};
  fs::rename(store_.ModelPath(model_), store_.ModelPath(model_).parent_path() / "TINY.gguf");
  pool::v1::FileVerification file = Verify();
  EXPECT_FALSE(file.ok());
  EXPECT_THAT(file.problem(),
              HasSubstr("the model file is missing; TINY.gguf, the name older hosts gave it, is "
                        "there: `llorch-pool models download tiny` renames it and adopts it"));
}

TEST_F(ModelVerifierTest, ReadsNothingThroughASymlinkedModelDirectory) {
  const fs::path elsewhere = fs::path(temp_.path()) / "elsewhere";
  fs::rename(store_.models_dir() / "tiny", elsewhere);
  fs::create_directory_symlink(elsewhere, store_.models_dir() / "tiny");
  pool::v1::FileVerification file = Verify();
  EXPECT_FALSE(file.ok());
  EXPECT_FALSE(file.present());
  EXPECT_THAT(file.problem(), HasSubstr("tiny is a symlink (to " + elsewhere.string() +
                                        "); llorch-pool creates, reads and removes nothing "
                                        "through one"));
}

TEST_F(ModelVerifierTest, FileWithoutManifestIsNotOk) {
  fs::remove(store_.ManifestPath(model_));
  pool::v1::FileVerification file = Verify();
  EXPECT_FALSE(file.ok());
  EXPECT_FALSE(file.actual_sha256().empty());
  EXPECT_THAT(file.problem(), HasSubstr("no manifest records its hash"));
}

TEST_F(ModelVerifierTest, FileWithoutManifestIsAdoptedWhenItMatchesTheHub) {
  const Manifest recorded = *store_.ReadManifest(model_);
  fs::remove(store_.ManifestPath(model_));
  int lookups = 0;
  pool::v1::FileVerification file = Verify([&](const CatalogModel& model) {
    ++lookups;
    EXPECT_EQ(model.id, "tiny");
    return UpstreamFile{recorded.sha256, recorded.size, std::string(40, 'c'), recorded.sha256};
  });
  EXPECT_TRUE(file.ok()) << file.problem();
  EXPECT_TRUE(file.adopted());
  EXPECT_EQ(file.expected_sha256(), recorded.sha256);
  const std::optional<Manifest> written = store_.ReadManifest(model_);
  ASSERT_TRUE(written.has_value());
  EXPECT_EQ(written->sha256, recorded.sha256);
  EXPECT_EQ(written->size, content_.size());
  EXPECT_EQ(written->revision_commit, std::string(40, 'c'));
  EXPECT_GT(written->downloaded_at, 0);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);

  // With a manifest the Hub is not asked again.
  EXPECT_TRUE(Verify([&](const CatalogModel&) -> absl::StatusOr<UpstreamFile> {
                ++lookups;
                return absl::UnavailableError("offline");
              }).ok());
  EXPECT_EQ(lookups, 1);
}

TEST_F(ModelVerifierTest, FileWithoutManifestThatDiffersFromTheHubIsNotAdopted) {
  fs::remove(store_.ManifestPath(model_));
  const std::string hub_sha = std::string(64, 'a');
  pool::v1::FileVerification file = Verify([&](const CatalogModel&) {
    return UpstreamFile{hub_sha, content_.size(), std::string(40, 'c'), hub_sha};
  });
  EXPECT_FALSE(file.ok());
  EXPECT_FALSE(file.adopted());
  EXPECT_THAT(file.problem(), HasSubstr("the Hub says " + hub_sha));
  EXPECT_FALSE(fs::exists(store_.ManifestPath(model_)));
}

TEST_F(ModelVerifierTest, FileWithoutManifestWhenTheHubCannotBeAskedSaysWhy) {
  fs::remove(store_.ManifestPath(model_));
  pool::v1::FileVerification file = Verify([](const CatalogModel&) -> absl::StatusOr<UpstreamFile> {
    return absl::UnavailableError("HF_HUB_OFFLINE is set");
  });
  EXPECT_FALSE(file.ok());
  EXPECT_THAT(file.problem(), HasSubstr("the Hub could not be asked: HF_HUB_OFFLINE is set"));
  EXPECT_FALSE(fs::exists(store_.ManifestPath(model_)));
}

TEST_F(ModelVerifierTest, CatchesABrokenGgufHeader) {
  std::string broken = content_;
  broken[0] = 'X';
  WriteFile(store_.ModelPath(model_), broken);
  Manifest manifest = *store_.ReadManifest(model_);
  manifest.sha256 = *Sha256File(store_.ModelPath(model_).string());
  ASSERT_TRUE(store_.WriteManifest(model_, manifest).ok());
  pool::v1::FileVerification file = Verify();
  EXPECT_FALSE(file.ok());
  EXPECT_FALSE(file.gguf_valid());
  EXPECT_THAT(file.problem(), HasSubstr("invalid GGUF header"));
}

}  // namespace
}  // namespace llorch
