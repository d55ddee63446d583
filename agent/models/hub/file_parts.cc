#include "agent/models/hub/file_parts.h"

#include "agent/models/hub/partial_data.h"

namespace llorch {

uint64_t AlignedLength(uint64_t offset, uint64_t length) {
  const uint64_t end = (offset + length) / Chunk::kAlignment * Chunk::kAlignment;
  return end > offset ? end - offset : 0;
}

PartCounters::PartCounters(const Layout& layout, const std::vector<uint64_t>& kept)
    : layout_(layout), parts_(std::make_unique<Counts[]>(layout.parts())) {
  for (size_t i = 0; i < parts(); ++i) {
    parts_[i].arrived = parts_[i].received = parts_[i].written = kept[i];
  }
}

uint64_t PartCounters::TotalArrived() const {
  uint64_t sum = 0;
  for (size_t i = 0; i < parts(); ++i) sum += arrived(i);
  return sum;
}

uint64_t PartCounters::TotalWritten() const {
  uint64_t sum = 0;
  for (size_t i = 0; i < parts(); ++i) sum += written(i);
  return sum;
}

std::vector<uint64_t> PartCounters::Written() const {
  std::vector<uint64_t> written(parts());
  for (size_t i = 0; i < parts(); ++i) written[i] = this->written(i);
  return written;
}

}  // namespace llorch
