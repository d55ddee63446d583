#include "agent/models/model_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

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

TEST_F(ModelStoreTest, OwnPartialStateIsPartialWithItsBytes) {
  WriteFile(store_.models_dir() / "qwen/.llorch/qwen2.5-0.5b-instruct-q4_k_m.gguf.partial",
            "12345");
  LocalModel local = store_.Inspect(qwen_);
  EXPECT_EQ(local.state, LocalState::kPartial);
  EXPECT_EQ(local.bytes, 5u);
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

}  // namespace
}  // namespace llorch
