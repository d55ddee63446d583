// The connection workers of a fetch: each takes the next part not yet received, in file order,
// and fetches it with ranged GETs over a keep-alive connection of its own (http_client.h).
//
// A worker gathers body bytes in chunks of kChunkBytes, aligned for O_DIRECT, and hands each
// full one to the hash (HashFollower::Offer) and then to the writer (ChunkWriter::Queue),
// pausing first while it runs too far ahead of the hash. Failed requests are retried as the
// Hub client's RetryPolicy says (a request that moved data starts the count over), going on
// from the last byte received (from the last aligned one where writes go direct: the under
// 4 KiB after it are fetched again). A stall (no byte for stall_timeout) reconnects; a 401/403
// from the CDN (its signed URL expired) asks the Hub again, once for all workers, and a changed
// etag there means the file changed (reason UPSTREAM_CHANGED). An answer whose Content-Range or
// Content-Length contradicts the Hub's size is refused at once (HUB_BAD_ANSWER). A server that
// ignores Range (200 and the whole file) is fine for a file of one part, whose worker skips
// what is here; with several parts the fetch fails with reason kRangeIgnored.
// The first error stops every worker (FetchControl::Fail), and so does a cancel; a cancelled
// worker still queues the bytes it holds, so that they are kept.
#ifndef LLORCH_AGENT_MODELS_HUB_CONNECTION_WORKERS_H_
#define LLORCH_AGENT_MODELS_HUB_CONNECTION_WORKERS_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "agent/models/hub/chunk_writer.h"
#include "agent/models/hub/fetch_control.h"
#include "agent/models/hub/file_parts.h"
#include "agent/models/hub/hash_follower.h"
#include "agent/models/hub/hub_client.h"
#include "agent/models/hub/partial_data.h"

namespace llorch {

// The reason of the error when a server answered a ranged request of one of several parts with
// 200 and the whole file: FetchFile then starts over on one connection.
inline constexpr char kRangeIgnored[] = "RANGE_IGNORED";

// The download URL the workers share: the one the Hub gave, then a fresh one whenever the
// CDN's signature expired. Thread-safe.
class DownloadUrl {
 public:
  DownloadUrl(const HubClient& hub, const RemoteFile& file, FetchControl& control)
      : hub_(hub), file_(file), control_(control), url_(file.url) {}

  // The URL and its generation (how many times it was renewed).
  std::pair<std::string, uint64_t> Get() const;
  // Asks the Hub for a new URL, unless another worker got one since `generation`. Aborted with
  // reason UPSTREAM_CHANGED when the Hub's file is not the same any more.
  absl::Status Refresh(uint64_t generation);

 private:
  const HubClient& hub_;
  const RemoteFile& file_;
  FetchControl& control_;
  std::mutex refresh_mu_;    // held through a refresh: one asks the Hub, the others wait for it
  mutable std::mutex mu_;    // taken after refresh_mu_, never before
  std::string url_;          // guarded by mu_
  uint64_t generation_ = 0;  // guarded by mu_
};

class ConnectionWorkers {
 public:
  // Bytes a worker gathers before it queues them for the disk: direct writes of 1 MiB took a
  // quarter longer per GiB than of 4 MiB, and 8 MiB chunks fall out of the CPU's cache before
  // they are hashed.
  static constexpr size_t kChunkBytes = 4 << 20;

  // Workers for the parts of `parts` not yet received, of `file` (as the Hub described it).
  ConnectionWorkers(const HubClient& hub, const RemoteFile& file, PartCounters& parts,
                    HashFollower& hash, ChunkWriter& writer, FetchControl& control);
  // Join()s.
  ~ConnectionWorkers();
  ConnectionWorkers(const ConnectionWorkers&) = delete;
  ConnectionWorkers& operator=(const ConnectionWorkers&) = delete;

  // Starts `count` more workers.
  void Open(size_t count);
  // Workers started so far.
  size_t opened() const { return threads_.size(); }
  // Body bytes received over the network, those of failed and skipped answers included.
  uint64_t fetched() const { return fetched_.load(std::memory_order_relaxed); }
  // Waits up to `timeout` for every worker to end (no part left, or the fetch stopped); true
  // once they have.
  bool WaitUntilDone(absl::Duration timeout);
  // Waits for every worker's thread.
  void Join();

 private:
  class Worker;

  void Run();

  const HubClient& hub_;
  const RemoteFile& file_;
  PartCounters& parts_;
  HashFollower& hash_;
  ChunkWriter& writer_;
  FetchControl& control_;
  DownloadUrl url_;
  ChunkPool chunks_{kChunkBytes};
  std::atomic<size_t> next_part_{0};
  std::atomic<uint64_t> fetched_{0};

  std::mutex mu_;
  std::condition_variable ended_;     // a worker ended
  int running_ = 0;                   // guarded by mu_
  std::vector<std::thread> threads_;  // the caller's thread only
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_CONNECTION_WORKERS_H_
