// The SHA-256 of a file being fetched (and its git blob id, when the Hub's digest is one),
// computed on a thread of its own, in file order, as the prefix of it that is there without a
// gap grows.
//
// Chunks a worker just received within kWindowBytes of the hashed prefix are offered to it
// (Offer) and hashed from memory while they are still in the CPU's cache; anything else (what an
// earlier fetch kept, parts received far ahead) it reads back from the data once written. It
// paces the workers (WaitForRoom): the one continuing the prefix keeps within the window, so
// its bytes go to the hash from memory; the others pause while the bytes on disk run
// kMaxUnhashedBytes ahead (a link faster than SHA-256 on a busy CPU), so the download goes at
// the hash's pace instead of leaving the hashing for the end. It stops when every byte is
// hashed, or when the fetch failed (FetchControl::Failed: a cancel alone does not stop it, so
// that a fetch is either cancelled or has its digests); a short read is the fetch's error.
#ifndef LLORCH_AGENT_MODELS_HUB_HASH_FOLLOWER_H_
#define LLORCH_AGENT_MODELS_HUB_HASH_FOLLOWER_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/time/time.h"
#include "agent/models/hub/fetch_control.h"
#include "agent/models/hub/file_parts.h"
#include "agent/models/hub/partial_data.h"

namespace llorch {

class HashFollower {
 public:
  // Received chunks this close ahead of the hashed prefix stay in memory for the hash (more and
  // they no longer fit the cache: hashing bytes from memory costs half as much again); those
  // further ahead it reads back from disk.
  static constexpr uint64_t kWindowBytes = 16 << 20;
  // How far the bytes on disk may run ahead of the hash. Beyond it, every part but the one
  // continuing the hashed prefix pauses: on a link faster than the hash, receiving ahead only
  // moves the hashing to the end (and, for a file larger than the page cache, back to the
  // disk), and the paused connections leave the CPU to the hash.
  static constexpr uint64_t kMaxUnhashedBytes = 256 << 20;

  struct Result {
    std::string sha256;    // lower-case hex; "" unless every byte was hashed
    std::string git_sha1;  // likewise, and only when asked for
    // Bytes read back from disk rather than taken from memory.
    uint64_t read_back = 0;
  };

  // Starts hashing what `parts` says is written of `data` (`data_path` names it in messages),
  // with the git blob id too when `git_blob_id`.
  HashFollower(const PartCounters& parts, const PartialData& data, std::string data_path,
               bool git_blob_id, FetchControl& control);
  // Waits for the thread: stop the fetch first, or let it hash every byte.
  ~HashFollower();
  HashFollower(const HashFollower&) = delete;
  HashFollower& operator=(const HashFollower&) = delete;

  // Bytes hashed, from the start of the file.
  uint64_t hashed() const { return hashed_.load(std::memory_order_acquire); }

  // Hands over a chunk just received (at its offset), to hash from memory when it lies within
  // kWindowBytes of the hashed prefix; further ahead it is not kept. Call it before queueing the
  // chunk for the disk: once written, the hash could find the bytes there first and read them
  // back.
  void Offer(std::shared_ptr<Chunk> chunk);
  // Pauses the worker of `part`, about to queue the bytes [offset, end), while it runs too far
  // ahead of the hash (see above), until the fetch stops.
  void WaitForRoom(size_t part, uint64_t offset, uint64_t end);
  // Tells the hash that more bytes are written (PartCounters), so it need not poll.
  void BytesWritten();

  // Waits up to `timeout` for the thread to end; true once it has.
  bool WaitUntilFinished(absl::Duration timeout);
  // Waits for the thread to end and says what it computed.
  Result Finish();

 private:
  void Run();
  std::shared_ptr<Chunk> TakeOffered(uint64_t offset);

  const PartCounters& parts_;
  const PartialData& data_;
  const std::string data_path_;
  const bool git_blob_id_;
  FetchControl& control_;
  std::atomic<uint64_t> hashed_{0};

  std::mutex mu_;
  std::condition_variable data_arrived_;                // a chunk was offered or written
  std::condition_variable hash_advanced_;               // hashed_ grew, or the thread ended
  std::map<uint64_t, std::shared_ptr<Chunk>> offered_;  // by offset; guarded by mu_
  bool finished_ = false;                               // guarded by mu_
  Result result_;                                       // guarded by mu_

  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_HASH_FOLLOWER_H_
