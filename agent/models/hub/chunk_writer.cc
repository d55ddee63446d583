#include "agent/models/hub/chunk_writer.h"

#include <chrono>
#include <utility>

namespace llorch {

ChunkWriter::ChunkWriter(PartialData& data, PartCounters& parts, FetchControl& control,
                         std::function<void()> on_written)
    : data_(data),
      parts_(parts),
      control_(control),
      on_written_(std::move(on_written)),
      thread_([this] { Run(); }) {}

ChunkWriter::~ChunkWriter() { Finish(); }

bool ChunkWriter::Queue(size_t part, std::shared_ptr<Chunk> chunk) {
  std::unique_lock<std::mutex> lock(mu_);
  // A failure is polled (nothing signals it here): the writer may be the one that failed.
  while (queue_.size() >= kQueueChunks && !control_.Failed()) {
    taken_.wait_for(lock, std::chrono::milliseconds(20));
  }
  if (control_.Failed()) return false;
  parts_.AddReceived(part, chunk->size);
  queue_.push_back({part, std::move(chunk)});
  queued_.notify_one();
  return true;
}

void ChunkWriter::Finish() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    finishing_ = true;
    queued_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

void ChunkWriter::Run() {
  while (true) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      queued_.wait(lock, [this] { return !queue_.empty() || finishing_; });
      if (queue_.empty()) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      taken_.notify_all();
    }
    if (absl::Status status = data_.Write(*job.chunk); !status.ok()) {
      control_.Fail(std::move(status));
      return;
    }
    parts_.AddWritten(job.part, job.chunk->size);
    on_written_();
  }
}

}  // namespace llorch
