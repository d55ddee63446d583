// The write pipeline of a fetch: the chunks its connection workers receive are written to the
// partial's data in the order they were queued, by a thread of its own, so that the workers go
// on receiving while the disk writes (past the page cache where it can: partial_data.h).
//
// At most kQueueChunks wait for the disk; Queue() blocks beyond. A chunk counts as received in
// the PartCounters once queued and as written once on disk. Everything queued is written, also
// when the fetch is cancelled (so its state can claim what arrived); a write error is the
// fetch's error (FetchControl::Fail) and ends the thread.
#ifndef LLORCH_AGENT_MODELS_HUB_CHUNK_WRITER_H_
#define LLORCH_AGENT_MODELS_HUB_CHUNK_WRITER_H_

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "agent/models/hub/fetch_control.h"
#include "agent/models/hub/file_parts.h"
#include "agent/models/hub/partial_data.h"

namespace llorch {

class ChunkWriter {
 public:
  // Chunks received but not yet written; beyond, the workers wait for the disk.
  static constexpr size_t kQueueChunks = 8;

  // Starts the thread. `on_written` runs on it after each chunk is on disk.
  ChunkWriter(PartialData& data, PartCounters& parts, FetchControl& control,
              std::function<void()> on_written);
  // Finish()es.
  ~ChunkWriter();
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // Queues `chunk` (bytes of `part`, at chunk->offset), waiting while kQueueChunks wait; false,
  // leaving it unqueued, once the fetch failed (a cancelled one still writes what arrived).
  bool Queue(size_t part, std::shared_ptr<Chunk> chunk);
  // Writes what is queued, then ends the thread. Nothing may be queued after.
  void Finish();
  // Whether aligned writes skip the page cache (PartialData::direct): a chunk that starts at an
  // aligned offset then goes to the disk without a copy.
  bool direct() const { return data_.direct(); }

 private:
  struct Job {
    size_t part = 0;
    std::shared_ptr<Chunk> chunk;
  };

  void Run();

  PartialData& data_;
  PartCounters& parts_;
  FetchControl& control_;
  const std::function<void()> on_written_;

  std::mutex mu_;
  std::condition_variable queued_;  // a job or the finish came
  std::condition_variable taken_;   // the writer took a job: there is room
  std::deque<Job> queue_;           // guarded by mu_
  bool finishing_ = false;          // guarded by mu_

  std::thread thread_;  // last: it starts once the members above exist
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_CHUNK_WRITER_H_
