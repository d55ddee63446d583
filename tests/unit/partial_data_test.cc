// The partial download's data file: bytes written at any offset, aligned or not, past the page
// cache or through it, read back as written.
#include "agent/models/hub/partial_data.h"

#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;

std::string Pattern(size_t size, char seed) {
  std::string bytes(size, '\0');
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>(seed + i * 31 + i / 4096);
  return bytes;
}

std::shared_ptr<Chunk> ChunkOf(ChunkPool& pool, const std::string& bytes, uint64_t offset) {
  std::shared_ptr<Chunk> chunk = pool.Acquire();
  chunk->size = bytes.size();
  chunk->offset = offset;
  std::copy(bytes.begin(), bytes.end(), chunk->data());
  return chunk;
}

// The pages of `path` in the page cache.
size_t CachedPages(const fs::path& path, size_t size) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  FILE* file = std::fopen(path.c_str(), "r");
  void* map = mmap(nullptr, size, PROT_READ, MAP_SHARED, fileno(file), 0);
  std::fclose(file);
  std::vector<unsigned char> resident((size + page - 1) / page);
  mincore(map, size, resident.data());
  munmap(map, size);
  size_t cached = 0;
  for (unsigned char in : resident) cached += in & 1;
  return cached;
}

class PartialDataTest : public ::testing::TestWithParam<bool> {
 protected:
  fs::path Path() const { return fs::path(temp_.path()) / kName; }
  static constexpr char kName[] = "model.gguf.partial";
  testing::TempDir temp_;
  DirFd dir_ = DirFd::OpenRoot(temp_.path(), false).value();
  ChunkPool pool_{1 << 20};
};

TEST_P(PartialDataTest, WritesAtAnyOffsetReadBackAsWritten) {
  const std::string bytes = Pattern(3 * 4096 + 8192 + 100, 7);
  absl::StatusOr<std::unique_ptr<PartialData>> data =
      PartialData::Create(dir_, kName, bytes.size(), GetParam());
  ASSERT_TRUE(data.ok()) << data.status();
  EXPECT_EQ(fs::file_size(Path()), bytes.size());  // reserved up front
  // Aligned; aligned offset with a tail; an odd offset to the end. Out of order.
  const std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {8192, 8192 + 4096 + 100}, {0, 8192}, {8192 + 4096 + 100, bytes.size()}};
  for (const auto& [from, to] : ranges) {
    std::shared_ptr<Chunk> chunk = ChunkOf(pool_, bytes.substr(from, to - from), from);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(chunk->data()) % Chunk::kAlignment, 0u);
    ASSERT_TRUE((*data)->Write(*chunk).ok());
  }
  std::string back(bytes.size(), '\0');
  absl::StatusOr<size_t> read = (*data)->Read(back.data(), back.size(), 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, bytes.size());
  EXPECT_EQ(back, bytes);
  EXPECT_EQ(testing::ReadFileBytes(Path().string()), bytes);
}

TEST_P(PartialDataTest, OpenGoesOnWritingWhatCreateStarted) {
  const std::string bytes = Pattern(2 << 20, 3);
  {
    absl::StatusOr<std::unique_ptr<PartialData>> data =
        PartialData::Create(dir_, kName, bytes.size(), GetParam());
    ASSERT_TRUE(data.ok()) << data.status();
    ASSERT_TRUE((*data)->Write(*ChunkOf(pool_, bytes.substr(0, 1 << 20), 0)).ok());
  }
  absl::StatusOr<std::unique_ptr<PartialData>> data = PartialData::Open(dir_, kName, GetParam());
  ASSERT_TRUE(data.ok()) << data.status();
  ASSERT_TRUE((*data)->Write(*ChunkOf(pool_, bytes.substr(1 << 20), 1 << 20)).ok());
  EXPECT_EQ(testing::ReadFileBytes(Path().string()), bytes);
}

INSTANTIATE_TEST_SUITE_P(DirectOrNot, PartialDataTest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Direct" : "PageCache";
                         });

// What a download writes does not push the running workers' models out of the page cache.
TEST(PartialDataCacheTest, DirectWritesLeaveNothingInThePageCache) {
  testing::TempDir temp;
  ChunkPool pool(1 << 20);
  const size_t size = 8 << 20;
  const std::string bytes = Pattern(1 << 20, 5);
  for (bool direct : {false, true}) {
    const std::string name = direct ? "direct" : "cached";
    const fs::path path = fs::path(temp.path()) / name;
    absl::StatusOr<std::unique_ptr<PartialData>> data =
        PartialData::Create(DirFd::OpenRoot(temp.path(), false).value(), name, size, direct);
    ASSERT_TRUE(data.ok()) << data.status();
    if (direct && !(*data)->direct()) GTEST_SKIP() << "this filesystem refuses O_DIRECT";
    for (uint64_t at = 0; at < size; at += bytes.size()) {
      ASSERT_TRUE((*data)->Write(*ChunkOf(pool, bytes, at)).ok());
    }
    const size_t pages = size / static_cast<size_t>(sysconf(_SC_PAGESIZE));
    if (direct) {
      EXPECT_EQ(CachedPages(path, size), 0u);
    } else {
      EXPECT_EQ(CachedPages(path, size), pages);  // what the direct writes are measured against
    }
  }
}

}  // namespace
}  // namespace llorch
