#include "agent/models/hub/hash_follower.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/models/store/sha256_file.h"

namespace llorch {
namespace {

constexpr size_t kReadBytes = 256 << 10;  // as in sha256_file.cc: stays in the L2 cache
// Start writing hashed data back to disk in steps this big, so the fsync before the install
// has little left to do.
constexpr uint64_t kWritebackBytes = 64 << 20;
// The waits poll this often for a stop (nothing signals it here).
constexpr std::chrono::milliseconds kPoll(20);

}  // namespace

HashFollower::HashFollower(const PartCounters& parts, const PartialData& data,
                           std::string data_path, bool git_blob_id, FetchControl& control)
    : parts_(parts),
      data_(data),
      data_path_(std::move(data_path)),
      git_blob_id_(git_blob_id),
      control_(control),
      thread_([this] { Run(); }) {}

HashFollower::~HashFollower() {
  if (thread_.joinable()) thread_.join();
}

void HashFollower::Offer(std::shared_ptr<Chunk> chunk) {
  if (chunk->offset >= hashed() + kWindowBytes) return;
  std::lock_guard<std::mutex> lock(mu_);
  const uint64_t offset = chunk->offset;
  offered_.emplace(offset, std::move(chunk));
  data_arrived_.notify_one();
}

void HashFollower::BytesWritten() {
  std::lock_guard<std::mutex> lock(mu_);  // the hash, between its check and its wait, holds it
  data_arrived_.notify_one();
}

// The part that continues the bytes received without a gap from the hashed prefix on, near the
// hash, never waits for anything but the hash, and the hash never waits for it: all the bytes
// before it are there. (Far ahead, as while the hash reads back what an earlier fetch kept, it
// goes on.)
void HashFollower::WaitForRoom(size_t part, uint64_t offset, uint64_t end) {
  const Layout& layout = parts_.layout();
  auto too_far = [&] {
    const uint64_t hashed = this->hashed();
    size_t continuing = static_cast<size_t>(hashed / layout.part_bytes);
    while (continuing < layout.parts() && parts_.FullyReceived(continuing)) ++continuing;
    const uint64_t window_end = hashed + kWindowBytes;
    if (part == continuing) return offset <= window_end && end > window_end;
    return parts_.TotalWritten() > hashed + kMaxUnhashedBytes;
  };
  std::unique_lock<std::mutex> lock(mu_);
  while (!control_.Stopping() && too_far()) hash_advanced_.wait_for(lock, kPoll);
}

bool HashFollower::WaitUntilFinished(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return hash_advanced_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                                 [this] { return finished_; });
}

HashFollower::Result HashFollower::Finish() {
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  return result_;
}

std::shared_ptr<Chunk> HashFollower::TakeOffered(uint64_t offset) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!offered_.empty() && offered_.begin()->first <= offset) {
    std::shared_ptr<Chunk> chunk = std::move(offered_.begin()->second);
    offered_.erase(offered_.begin());
    if (chunk->offset + chunk->size > offset) return chunk;
  }
  return nullptr;
}

void HashFollower::Run() {
  const Layout& layout = parts_.layout();
  Digest sha256;
  // Only when the Hub's digest is a git blob id: the common SHA-256 path pays nothing for it.
  std::optional<GitBlobDigest> git_blob;
  if (git_blob_id_) git_blob.emplace(layout.size);
  auto update = [&](const char* data, size_t size) {
    sha256.Update(data, size);
    if (git_blob) git_blob->Update(data, size);
  };
  std::vector<char> buffer(kReadBytes);
  uint64_t hashed = 0;
  uint64_t read_back = 0;
  uint64_t written_back = 0;
  size_t first_incomplete = 0;
  // The end of the bytes on disk from the start of the file.
  auto end_on_disk = [&] {
    while (first_incomplete < layout.parts() && parts_.FullyWritten(first_incomplete)) {
      ++first_incomplete;
    }
    return first_incomplete < layout.parts()
               ? layout.start(first_incomplete) + parts_.written(first_incomplete)
               : layout.size;
  };
  while (hashed < layout.size && !control_.Failed()) {
    if (std::shared_ptr<Chunk> chunk = TakeOffered(hashed)) {
      const size_t skip = static_cast<size_t>(hashed - chunk->offset);
      update(chunk->data() + skip, chunk->size - skip);
      hashed = chunk->offset + chunk->size;
    } else if (const uint64_t end = end_on_disk(); end > hashed) {
      const size_t size = static_cast<size_t>(std::min<uint64_t>(end - hashed, buffer.size()));
      absl::StatusOr<size_t> n = data_.Read(buffer.data(), size, hashed);
      if (!n.ok() || *n == 0) {
        control_.Fail(n.ok() ? absl::DataLossError(
                                   absl::StrCat(data_path_, " is shorter than its state says"))
                             : n.status());
        break;
      }
      update(buffer.data(), *n);
      hashed += *n;
      read_back += *n;
    } else {
      std::unique_lock<std::mutex> lock(mu_);
      const bool offered = !offered_.empty() && offered_.begin()->first <= hashed;
      if (!offered && end_on_disk() <= hashed && !control_.Failed()) {
        data_arrived_.wait_for(lock, kPoll);
      }
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);  // no worker misses the wake-up
      hashed_.store(hashed, std::memory_order_release);
      hash_advanced_.notify_all();
    }
    if (hashed - written_back >= kWritebackBytes) {
      data_.StartWriteback(written_back, hashed - written_back);
      written_back = hashed;
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (hashed == layout.size) {
    result_.sha256 = sha256.HexDigest();
    if (git_blob) result_.git_sha1 = git_blob->HexDigest();
  }
  result_.read_back = read_back;
  finished_ = true;
  hash_advanced_.notify_all();
}

}  // namespace llorch
