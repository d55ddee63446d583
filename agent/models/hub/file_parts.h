// The parts a fetch cuts a file into, and how far each has come: what the threads of one fetch
// (its connection workers, its writer, its hash and its coordinator) share without a lock.
#ifndef LLORCH_AGENT_MODELS_HUB_FILE_PARTS_H_
#define LLORCH_AGENT_MODELS_HUB_FILE_PARTS_H_

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace llorch {

// How a file is cut into parts: part i covers [i * part_bytes, min(size, (i+1) * part_bytes)).
struct Layout {
  uint64_t size = 0;
  uint64_t part_bytes = 1;

  size_t parts() const { return static_cast<size_t>((size + part_bytes - 1) / part_bytes); }
  uint64_t start(size_t part) const { return part * part_bytes; }
  uint64_t length(size_t part) const { return std::min(part_bytes, size - start(part)); }
};

// Of `length` bytes from file offset `offset`, those up to the last offset aligned for O_DIRECT
// (Chunk::kAlignment).
uint64_t AlignedLength(uint64_t offset, uint64_t length);

// Per part, three counts of bytes from its start, arrived >= received >= written:
//   arrived   taken from the network by the part's worker: in its buffer, queued, or written.
//             A worker that drops unaligned bytes to resume from an aligned byte takes them
//             back (DropArrived), so this alone may go back, by under 4 KiB.
//   received  queued for the writer, or written (moved by the part's worker, when it queues).
//   written   on disk (moved by the writer thread).
// One thread at a time moves each count; any thread reads them. The sums are not a snapshot
// (parts move while they are added up); each count on its own is exact.
class PartCounters {
 public:
  // The parts of `layout`, part i with `kept[i]` bytes already on disk.
  PartCounters(const Layout& layout, const std::vector<uint64_t>& kept);

  const Layout& layout() const { return layout_; }
  size_t parts() const { return layout_.parts(); }

  uint64_t arrived(size_t part) const {
    return parts_[part].arrived.load(std::memory_order_relaxed);
  }
  uint64_t received(size_t part) const {
    return parts_[part].received.load(std::memory_order_relaxed);
  }
  // Acquire: a thread that sees a count may read those bytes back from the disk.
  uint64_t written(size_t part) const {
    return parts_[part].written.load(std::memory_order_acquire);
  }

  void AddArrived(size_t part, uint64_t bytes) {
    parts_[part].arrived.fetch_add(bytes, std::memory_order_relaxed);
  }
  void DropArrived(size_t part, uint64_t bytes) {
    parts_[part].arrived.fetch_sub(bytes, std::memory_order_relaxed);
  }
  void AddReceived(size_t part, uint64_t bytes) {
    parts_[part].received.fetch_add(bytes, std::memory_order_relaxed);
  }
  void AddWritten(size_t part, uint64_t bytes) {
    parts_[part].written.fetch_add(bytes, std::memory_order_release);
  }

  bool FullyReceived(size_t part) const { return received(part) == layout_.length(part); }
  bool FullyWritten(size_t part) const { return written(part) == layout_.length(part); }

  uint64_t TotalArrived() const;
  uint64_t TotalWritten() const;
  // Per part: bytes written from its start (what a state file may claim).
  std::vector<uint64_t> Written() const;

 private:
  struct Counts {
    std::atomic<uint64_t> arrived{0};
    std::atomic<uint64_t> received{0};
    std::atomic<uint64_t> written{0};
  };

  const Layout layout_;
  const std::unique_ptr<Counts[]> parts_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_FILE_PARTS_H_
