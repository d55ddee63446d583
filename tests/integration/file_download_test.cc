// FetchFile on its own against the fake Hub: where the hash takes its bytes from, and where a
// resume goes on from. A download from scratch on one connection hashes every byte from memory,
// none read back from disk (the benchmark's throughput depends on it); a resumed one reads back
// what it kept, and goes on from an aligned byte.
#include "agent/models/hub/file_download.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/models/hub/partial_data.h"
#include "agent/models/store/sha256_file.h"
#include "nlohmann/json.hpp"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;

class FetchFileTest : public ::testing::Test {
 protected:
  static constexpr uint64_t kSize = 48 << 20;  // three times what may wait for the hash

  FetchFileTest() : content_(testing::GgufFileOfSize(kSize, 9)) {
    hub_.AddFile("owner/Big-GGUF", "big.gguf", content_);
    HubOptions options;
    options.endpoint = hub_.endpoint();
    client_ = std::make_unique<HubClient>(options);
    options_.parallel_min_bytes = kSize + 1;  // one connection
    options_.progress_interval = absl::Milliseconds(5);
  }

  absl::StatusOr<FetchResult> Fetch(const FetchHooks& hooks = {}) {
    absl::StatusOr<RemoteFile> file = client_->Resolve("owner/Big-GGUF", "main", "big.gguf");
    if (!file.ok()) return file.status();
    return FetchFile(*client_, *file, partial_, options_, hooks);
  }

  testing::TempDir temp_;
  testing::FakeHub hub_;
  std::string content_;
  std::unique_ptr<HubClient> client_;
  FetchOptions options_;
  PartialFile partial_{DirFd::OpenRoot(temp_.path(), false).value(), "big.gguf.partial"};
};

TEST_F(FetchFileTest, OneConnectionFromScratchHashesEveryByteFromMemory) {
  absl::StatusOr<FetchResult> result = Fetch();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sha256, Sha256Of(content_));
  EXPECT_EQ(result->fetched, kSize);
  EXPECT_EQ(result->read_back, 0u);
  EXPECT_EQ(testing::ReadFileBytes(partial_.data().string()), content_);
}

TEST_F(FetchFileTest, AResumedFetchReadsBackWhatItKept) {
  hub_.SetFaults({.bytes_per_second_per_connection = 32 << 20});
  std::atomic<bool> cancel{false};
  FetchHooks hooks;
  hooks.cancelled = [&] { return cancel.load(); };
  hooks.on_progress = [&](const FetchProgress& progress) {
    if (progress.present >= kSize / 3) cancel = true;
  };
  ASSERT_TRUE(absl::IsCancelled(Fetch(hooks).status()));
  hub_.SetFaults({});
  absl::StatusOr<FetchResult> result = Fetch();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sha256, Sha256Of(content_));
  EXPECT_GT(result->kept, 0u);
  EXPECT_EQ(result->kept + result->fetched, kSize);
  EXPECT_GE(result->read_back, result->kept);
  EXPECT_EQ(testing::ReadFileBytes(partial_.data().string()), content_);
}

// A partial that ends at an odd byte goes on from the last aligned byte before it, so that the
// rest can be written past the page cache (where the filesystem takes O_DIRECT).
TEST_F(FetchFileTest, AResumeGoesOnFromAnAlignedByte) {
  std::atomic<bool> cancel{false};
  FetchHooks hooks;
  hooks.cancelled = [&] { return cancel.load(); };
  hooks.on_progress = [&](const FetchProgress& progress) {
    if (progress.present >= kSize / 3) cancel = true;
  };
  hub_.SetFaults({.bytes_per_second_per_connection = 32 << 20});
  ASSERT_TRUE(absl::IsCancelled(Fetch(hooks).status()));
  nlohmann::json state =
      nlohmann::json::parse(testing::ReadFileBytes(partial_.dir.PathOf(partial_.state_name())));
  const uint64_t odd = state["done"][0].get<uint64_t>() - 1000;
  state["done"][0] = odd;
  testing::WriteFileBytes(partial_.dir.PathOf(partial_.state_name()), state.dump());

  hub_.SetFaults({});
  hub_.ResetStats();
  absl::StatusOr<FetchResult> result = Fetch();
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->sha256, Sha256Of(content_));
  const bool direct = PartialData::Open(partial_.dir, partial_.name, true).value()->direct();
  const uint64_t kept = direct ? odd / 4096 * 4096 : odd;
  EXPECT_EQ(result->kept, kept);
  ASSERT_FALSE(hub_.requests().empty());
  EXPECT_EQ(hub_.requests().back().range, absl::StrCat("bytes=", kept, "-", kSize - 1));
}

}  // namespace
}  // namespace llorch
