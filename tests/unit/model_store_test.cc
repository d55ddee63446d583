#include "agent/models/store/model_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "agent/models/builtin_catalog.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {
namespace fs = std::filesystem;

void WriteFile(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

CatalogModel Model(std::string id, std::string dir, std::string file) {
  CatalogModel model;
  model.id = std::move(id);
  model.dir = std::move(dir);
  model.file = std::move(file);
  return model;
}

class ModelStoreTest : public ::testing::Test {
 protected:
  testing::TempDir temp_;
  ModelStore store_{fs::path(temp_.path()) / ".test-models"};
  CatalogModel qwen_ = Model("qwen", "qwen", "qwen2.5-0.5b-instruct-q4_k_m.gguf");
  CatalogModel qwen_fp16_ = Model("qwen-fp16", "qwen", "qwen2.5-0.5b-instruct-fp16.gguf");
};

TEST_F(ModelStoreTest, NothingOnDiskIsNotDownloaded) {
  LocalModel local = store_.Inspect(qwen_);
  EXPECT_EQ(local.state, LocalState::kNotDownloaded);
  EXPECT_EQ(local.path, store_.models_dir() / "qwen" / "qwen2.5-0.5b-instruct-q4_k_m.gguf");
}

TEST_F(ModelStoreTest, FileWithoutManifestIsUnverified) {
  WriteFile(store_.ModelPath(qwen_), "GGUF1234");
  LocalModel local = store_.Inspect(qwen_);
  EXPECT_EQ(local.state, LocalState::kUnverified);
  EXPECT_EQ(local.bytes, 8u);
  // The other model in the shared directory is unaffected.
  EXPECT_EQ(store_.Inspect(qwen_fp16_).state, LocalState::kNotDownloaded);
}

TEST_F(ModelStoreTest, FileWithMatchingManifestIsDownloaded) {
  WriteFile(store_.ModelPath(qwen_), "GGUF1234");
  WriteFile(store_.ManifestPath(qwen_), R"({"size": 8, "sha256": "ab"})");
  EXPECT_EQ(store_.Inspect(qwen_).state, LocalState::kDownloaded);
}

TEST_F(ModelStoreTest, ManifestWithOtherSizeLeavesTheFileUnverified) {
  WriteFile(store_.ModelPath(qwen_), "GGUF1234");
  WriteFile(store_.ManifestPath(qwen_), R"({"size": 9})");
  EXPECT_EQ(store_.Inspect(qwen_).state, LocalState::kUnverified);
  WriteFile(store_.ManifestPath(qwen_), "not json");
  EXPECT_EQ(store_.Inspect(qwen_).state, LocalState::kUnverified);
}

TEST_F(ModelStoreTest, HfCliLockWithoutTheFileIsPartial) {
  WriteFile(store_.models_dir() / "qwen/.cache/huggingface/download" /
                "qwen2.5-0.5b-instruct-fp16.gguf.lock",
            "");
  EXPECT_EQ(store_.Inspect(qwen_fp16_).state, LocalState::kPartial);
  EXPECT_EQ(store_.Inspect(qwen_).state, LocalState::kNotDownloaded);
}

// The data file of a partial download has the whole size from the start (preallocated): its
// bytes are those its state says were fetched, none without a state (a resume discards it).
TEST_F(ModelStoreTest, OwnPartialStateIsPartialWithTheBytesItFetched) {
  const fs::path data =
      store_.models_dir() / "qwen/.llorch/qwen2.5-0.5b-instruct-q4_k_m.gguf.partial";
  WriteFile(data, "12345");
  LocalModel local = store_.Inspect(qwen_);
  EXPECT_EQ(local.state, LocalState::kPartial);
  EXPECT_EQ(local.bytes, 0u);

  WriteFile(data.string() + ".json",
            R"({"version": 1, "etag": "e", "size": 5, "part_bytes": 2, "done": [2, 1, 0]})");
  local = store_.Inspect(qwen_);
  EXPECT_EQ(local.state, LocalState::kPartial);
  EXPECT_EQ(local.bytes, 3u);
}

TEST_F(ModelStoreTest, ConversionSourcesWithoutOutputArePartial) {
  CatalogModel gpt2 = Model("gpt2", "gpt2", "gpt2-fp32.gguf");
  gpt2.conversion = ModelConversion{};
  WriteFile(store_.models_dir() / "gpt2/pytorch/config.json", "{}");
  EXPECT_EQ(store_.Inspect(gpt2).state, LocalState::kPartial);
}

TEST_F(ModelStoreTest, SymlinkIsNotTakenForTheModelFile) {
  WriteFile(fs::path(temp_.path()) / "elsewhere.gguf", "GGUF");
  fs::create_directories(store_.models_dir() / "qwen");
  fs::create_symlink(fs::path(temp_.path()) / "elsewhere.gguf", store_.ModelPath(qwen_));
  EXPECT_NE(store_.Inspect(qwen_).state, LocalState::kDownloaded);
}

// A manifest behind a symlinked metadata directory vouches for nothing, and nothing is written
// or removed there.
TEST_F(ModelStoreTest, ASymlinkedMetadataDirIsRefusedAndNeitherReadNorWritten) {
  const fs::path outside = fs::path(temp_.path()) / "outside";
  WriteFile(store_.ModelPath(qwen_), "GGUF1234");
  WriteFile(outside / "qwen2.5-0.5b-instruct-q4_k_m.gguf.manifest.json", R"({"size": 8})");
  fs::create_directory_symlink(outside, store_.models_dir() / "qwen" / ".llorch");
  LocalModel local = store_.Inspect(qwen_);
  EXPECT_EQ(local.state, LocalState::kRefused);
  EXPECT_THAT(std::string(local.refused.message()),
              ::testing::HasSubstr(".llorch is a symlink (to " + outside.string() + ")"));
  EXPECT_EQ(store_.Inspect(qwen_fp16_).state, LocalState::kRefused);  // it shares the directory
  EXPECT_FALSE(store_.ReadManifest(qwen_).has_value());
  EXPECT_FALSE(store_.WriteManifest(qwen_, Manifest{}).ok());
  EXPECT_FALSE(store_.RemoveManifest(qwen_).ok());
  EXPECT_EQ(testing::ReadFileBytes(
                (outside / "qwen2.5-0.5b-instruct-q4_k_m.gguf.manifest.json").string()),
            R"({"size": 8})");
  EXPECT_EQ(std::distance(fs::directory_iterator(outside), fs::directory_iterator()), 1);
}

// A FIFO where the manifest should be would block a plain read forever.
TEST_F(ModelStoreTest, AFifoPlantedAsTheManifestNeitherHangsNorVouches) {
  WriteFile(store_.ModelPath(qwen_), "GGUF1234");
  fs::create_directories(store_.ManifestPath(qwen_).parent_path());
  ASSERT_EQ(mkfifo(store_.ManifestPath(qwen_).c_str(), 0644), 0);
  EXPECT_FALSE(store_.ReadManifest(qwen_).has_value());
  EXPECT_EQ(store_.Inspect(qwen_).state, LocalState::kUnverified);
}

class ModelStoreScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Catalog> catalog = Catalog::Parse(BuiltInCatalogText(), kBuiltInCatalogName);
    ASSERT_TRUE(catalog.ok());
    catalog_ = std::move(*catalog);
  }
  fs::path Dir() const { return store_.models_dir(); }

  testing::TempDir temp_;
  ModelStore store_{fs::path(temp_.path()) / "models"};
  Catalog catalog_;
};

TEST_F(ModelStoreScanTest, LockFilesAreNotModelFilesAndSourceRecordsAreNotPartial) {
  const CatalogModel& qwen = *catalog_.Find("qwen");
  const CatalogModel& gpt2 = *catalog_.Find("gpt2");
  WriteFile(store_.ModelPath(qwen), "12345");
  WriteFile(store_.ManifestPath(qwen), R"({"size": 5})");
  WriteFile(store_.LockPath(qwen), "4242\n");  // a download or delete at work
  WriteFile(store_.ModelPath(gpt2), "GGUF");
  WriteFile(store_.ManifestPath(gpt2), R"({"size": 4})");
  WriteFile(Dir() / "gpt2/.llorch/gpt2-fp32.gguf.sources.json", "{}");
  WriteFile(Dir() / "gpt2/source/config.json", "{}");
  StoreScan scan = store_.Scan(catalog_);
  ASSERT_EQ(scan.models.size(), 2u);
  EXPECT_EQ(scan.models[0].files.size(), 2u);  // file and manifest, not the lock
  EXPECT_EQ(scan.total_bytes, 5u + 11u + 4u + 11u + 2u + 2u);
  ASSERT_EQ(scan.models[1].files.size(), 4u);
  for (const StoreFile& file : scan.models[1].files) EXPECT_FALSE(file.partial) << file.path;
  EXPECT_EQ(scan.models[1].local.state, LocalState::kDownloaded);
}

TEST_F(ModelStoreScanTest, MissingModelsDirIsEmpty) {
  StoreScan scan = store_.Scan(catalog_);
  EXPECT_TRUE(scan.models.empty());
  EXPECT_TRUE(scan.unknown.empty());
  EXPECT_EQ(scan.total_bytes, 0u);
}

TEST_F(ModelStoreScanTest, SortsFilesToTheirModelsAndShowsUnknownOnes) {
  WriteFile(Dir() / "qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf", "12345");
  WriteFile(Dir() / "qwen/.llorch/qwen2.5-0.5b-instruct-q4_k_m.gguf.manifest.json",
            R"({"size": 5})");
  WriteFile(Dir() / "qwen/.cache/huggingface/download/qwen2.5-0.5b-instruct-fp16.gguf.lock", "");
  WriteFile(Dir() / "qwen/.cache/huggingface/download/abc.etag.incomplete", "123");
  WriteFile(Dir() / "qwen/notes.txt", "hi");
  WriteFile(Dir() / "stray.gguf", "1234567");
  WriteFile(Dir() / "gpt2/source/config.json", "{}");
  StoreScan scan = store_.Scan(catalog_);
  ASSERT_EQ(scan.models.size(), 3u);
  EXPECT_EQ(scan.models[0].model->id, "qwen");
  EXPECT_EQ(scan.models[0].local.state, LocalState::kDownloaded);
  EXPECT_EQ(scan.models[0].files.size(), 2u);
  EXPECT_EQ(scan.models[0].bytes, 5u + 11u);
  EXPECT_EQ(scan.models[1].model->id, "qwen-fp16");
  EXPECT_EQ(scan.models[1].local.state, LocalState::kPartial);
  ASSERT_EQ(scan.models[1].files.size(), 2u);  // the lock and the hashed .incomplete
  EXPECT_TRUE(scan.models[1].files[0].partial);
  EXPECT_EQ(scan.models[2].model->id, "gpt2");
  EXPECT_TRUE(scan.models[2].files[0].partial);
  ASSERT_EQ(scan.unknown.size(), 2u);
  EXPECT_EQ(scan.unknown[0].path, "qwen/notes.txt");
  EXPECT_EQ(scan.unknown[1].path, "stray.gguf");
  EXPECT_EQ(scan.unknown[1].bytes, 7u);
  EXPECT_EQ(scan.total_bytes, 5u + 11u + 3u + 2u + 7u + 2u);
}

// Older hosts hold phi3's file lower-cased: it is phi3's (not unknown), unverified, renamed to
// the current name on request, and deleted with the model.
TEST_F(ModelStoreScanTest, AFileUnderAFormerNameIsTheModelsAndCanBeRenamed) {
  const CatalogModel& phi3 = *catalog_.Find("phi3");
  const fs::path former = Dir() / "phi3/phi-3-mini-4k-instruct-q4.gguf";
  WriteFile(former, "GGUF5678");
  EXPECT_EQ(store_.FormerFile(phi3), former);
  LocalModel local = store_.Inspect(phi3);
  EXPECT_EQ(local.state, LocalState::kUnverified);
  EXPECT_EQ(local.bytes, 8u);
  StoreScan scan = store_.Scan(catalog_);
  EXPECT_TRUE(scan.unknown.empty());
  ASSERT_EQ(scan.models.size(), 1u);
  ASSERT_EQ(scan.models[0].files.size(), 1u);
  EXPECT_EQ(scan.models[0].files[0].path, "phi3/phi-3-mini-4k-instruct-q4.gguf");
  EXPECT_FALSE(scan.models[0].files[0].partial);

  absl::StatusOr<std::string> renamed = store_.RenameFormerFile(phi3);
  ASSERT_TRUE(renamed.ok()) << renamed.status();
  EXPECT_EQ(*renamed, "phi-3-mini-4k-instruct-q4.gguf");
  EXPECT_FALSE(fs::exists(former));
  EXPECT_EQ(testing::ReadFileBytes(store_.ModelPath(phi3).string()), "GGUF5678");
  EXPECT_EQ(store_.RenameFormerFile(phi3).value(), "");  // nothing left to rename

  // Both names at once: the current one is the model file; the former one is left alone.
  WriteFile(former, "older");
  EXPECT_FALSE(store_.FormerFile(phi3).has_value());
  EXPECT_EQ(store_.RenameFormerFile(phi3).value(), "");
  EXPECT_EQ(testing::ReadFileBytes(former.string()), "older");
  ASSERT_TRUE(store_.Delete(catalog_, phi3).ok());
  EXPECT_FALSE(fs::exists(Dir() / "phi3"));
}

TEST_F(ModelStoreScanTest, DeleteInTheSharedQwenDirKeepsTheOtherModel) {
  const CatalogModel& qwen = *catalog_.Find("qwen");
  const CatalogModel& fp16 = *catalog_.Find("qwen-fp16");
  WriteFile(store_.ModelPath(qwen), "q4");
  WriteFile(store_.ManifestPath(qwen), R"({"size": 2})");
  WriteFile(store_.ModelPath(fp16), "fp16");
  WriteFile(store_.ManifestPath(fp16), R"({"size": 4})");
  absl::StatusOr<std::vector<StoreFile>> removed = store_.Delete(catalog_, fp16);
  ASSERT_TRUE(removed.ok()) << removed.status();
  EXPECT_EQ(removed->size(), 2u);
  EXPECT_FALSE(fs::exists(store_.ModelPath(fp16)));
  EXPECT_FALSE(fs::exists(store_.ManifestPath(fp16)));
  EXPECT_EQ(store_.Inspect(qwen).state, LocalState::kDownloaded);
  // Deleting the last model of a directory removes the directory.
  ASSERT_TRUE(store_.Delete(catalog_, qwen).ok());
  EXPECT_FALSE(fs::exists(Dir() / "qwen"));
}

TEST_F(ModelStoreScanTest, DeleteNeverFollowsSymlinks) {
  const CatalogModel& phi3 = *catalog_.Find("phi3");
  WriteFile(fs::path(temp_.path()) / "outside/Phi-3-mini-4k-instruct-q4.gguf", "precious");
  fs::create_directories(Dir());
  fs::create_directory_symlink(fs::path(temp_.path()) / "outside", Dir() / "phi3");
  absl::StatusOr<std::vector<StoreFile>> refused = store_.Delete(catalog_, phi3);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(fs::exists(fs::path(temp_.path()) / "outside/Phi-3-mini-4k-instruct-q4.gguf"));
  // Every view agrees: the link is there, owned by phi3, refused, and shown as the link.
  EXPECT_EQ(store_.Inspect(phi3).state, LocalState::kRefused);
  StoreScan scan = store_.Scan(catalog_);
  ASSERT_EQ(scan.models.size(), 1u);
  EXPECT_EQ(scan.models[0].model->id, "phi3");
  EXPECT_EQ(scan.models[0].local.state, LocalState::kRefused);
  ASSERT_EQ(scan.models[0].files.size(), 1u);
  EXPECT_EQ(scan.models[0].files[0].path, "phi3");
  EXPECT_EQ(scan.models[0].files[0].symlink_target, (fs::path(temp_.path()) / "outside").string());
  EXPECT_TRUE(scan.unknown.empty());

  // A symlinked model file is removed as a link; its target stays.
  const CatalogModel& tiny = *catalog_.Find("tinyllama");
  WriteFile(fs::path(temp_.path()) / "target.gguf", "data");
  fs::create_directories(Dir() / "tinyllama");
  fs::create_symlink(fs::path(temp_.path()) / "target.gguf", store_.ModelPath(tiny));
  EXPECT_EQ(store_.Inspect(tiny).state, LocalState::kRefused);
  ASSERT_TRUE(store_.Delete(catalog_, tiny).ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(store_.ModelPath(tiny))));
  EXPECT_TRUE(fs::exists(fs::path(temp_.path()) / "target.gguf"));
}

TEST_F(ModelStoreScanTest, ManifestRoundTripsAndIsWrittenAtomically) {
  const CatalogModel& tiny = *catalog_.Find("tinyllama");
  Manifest manifest;
  manifest.repo = tiny.repo;
  manifest.file = tiny.file;
  manifest.size = 669;
  manifest.sha256 = std::string(64, 'a');
  manifest.revision_commit = std::string(40, 'b');
  manifest.upstream_etag = std::string(40, 'c');
  manifest.downloaded_at = 1764300000;
  manifest.verified_by = kVerifiedByGitSha1;
  ASSERT_TRUE(store_.WriteManifest(tiny, manifest).ok());
  std::optional<Manifest> read = store_.ReadManifest(tiny);
  ASSERT_TRUE(read.has_value());
  EXPECT_EQ(read->sha256, manifest.sha256);
  EXPECT_EQ(read->size, 669u);
  EXPECT_EQ(read->downloaded_at, 1764300000);
  EXPECT_EQ(read->verified_by, "git-sha1");
  // No temp file is left next to it.
  size_t entries = 0;
  for (const auto& entry : fs::directory_iterator(store_.ManifestPath(tiny).parent_path())) {
    (void)entry;
    ++entries;
  }
  EXPECT_EQ(entries, 1u);
}

// Manifests written before they said what verified them: one whose sha256 is the Hub's etag was
// checked against it; one with another etag (a git blob id) was installed with the local hash
// only, and vouches for nothing.
TEST_F(ModelStoreTest, AnOlderManifestCountsOnlyWhenItsSha256IsTheHubs) {
  WriteFile(store_.ModelPath(qwen_), "GGUF1234");
  auto write_older = [&](const std::string& etag) {
    WriteFile(store_.ManifestPath(qwen_), R"({"size": 8, "sha256": ")" + std::string(64, 'a') +
                                              R"(", "upstream_etag": ")" + etag + R"("})");
  };
  write_older(std::string(64, 'A'));
  ASSERT_TRUE(store_.ReadManifest(qwen_).has_value());
  EXPECT_EQ(store_.ReadManifest(qwen_)->verified_by, "sha256");
  EXPECT_EQ(store_.Inspect(qwen_).state, LocalState::kDownloaded);

  write_older(std::string(40, 'c'));
  EXPECT_FALSE(store_.ReadManifest(qwen_).has_value());
  EXPECT_EQ(store_.Inspect(qwen_).state, LocalState::kUnverified);
}

TEST_F(ModelStoreScanTest, FreeSpaceOfAMissingDirComesFromItsParent) {
  absl::StatusOr<DiskSpace> space = store_.FreeSpace();
  ASSERT_TRUE(space.ok()) << space.status();
  EXPECT_GT(space->total_bytes, 0u);
  EXPECT_LE(space->free_bytes, space->total_bytes);
}

}  // namespace
}  // namespace llorch
