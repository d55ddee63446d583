// The bytes of a partial download on disk, written in place at any offset, and the aligned
// memory chunks they travel in.
//
// Writes skip the page cache (O_DIRECT) where the filesystem allows it and the offset, length
// and memory are aligned. A model is gigabytes the host will not read again soon; through the
// page cache it would evict the pages of the models running workers have mapped, and cost a
// copy and a page allocation per 4 KiB (on a VM, often a fault to the hypervisor too). What
// cannot go direct (an unaligned tail, a filesystem without O_DIRECT) goes through the page
// cache; reads see both alike.
#ifndef LLORCH_AGENT_MODELS_HUB_PARTIAL_DATA_H_
#define LLORCH_AGENT_MODELS_HUB_PARTIAL_DATA_H_

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/dir_fd.h"

namespace llorch {

// Bytes in memory bound for `offset` of a PartialData: `size` of `capacity()` are used.
class Chunk {
 public:
  static constexpr size_t kAlignment = 4096;  // what O_DIRECT asks of memory, offset and length

  explicit Chunk(size_t capacity);
  char* data() { return bytes_.get(); }
  const char* data() const { return bytes_.get(); }
  size_t capacity() const { return capacity_; }

  size_t size = 0;
  uint64_t offset = 0;

 private:
  struct Free {
    void operator()(char* bytes) const { std::free(bytes); }
  };
  std::unique_ptr<char, Free> bytes_;
  size_t capacity_;
};

// Hands out chunks of one capacity, reusing those no longer referenced: fresh memory costs a
// page fault per page. The pool must outlive its chunks. Thread-safe.
class ChunkPool {
 public:
  explicit ChunkPool(size_t chunk_bytes) : chunk_bytes_(chunk_bytes) {}
  // An empty chunk (size 0), back in the pool when its last reference goes.
  std::shared_ptr<Chunk> Acquire();

 private:
  void Return(Chunk* chunk);

  const size_t chunk_bytes_;
  std::mutex mu_;
  std::vector<std::unique_ptr<Chunk>> free_;
};

class PartialData {
 public:
  // Opens the existing file `name` in `dir` to go on writing it (never through a symlink).
  static absl::StatusOr<std::unique_ptr<PartialData>> Open(const DirFd& dir,
                                                           const std::string& name, bool direct);
  // Creates (or truncates) `name` in `dir` and Reserve()s `size` bytes. A symlink there is
  // refused, never written through.
  static absl::StatusOr<std::unique_ptr<PartialData>> Create(const DirFd& dir,
                                                             const std::string& name, uint64_t size,
                                                             bool direct);
  ~PartialData();
  PartialData(const PartialData&) = delete;
  PartialData& operator=(const PartialData&) = delete;

  // Whether aligned writes skip the page cache: the filesystem took O_DIRECT.
  bool direct() const { return direct_fd_ >= 0 && !direct_refused_.load(); }
  // Writes all of `chunk` at its offset. Thread-safe for distinct ranges.
  absl::Status Write(const Chunk& chunk);
  // Reads up to `size` bytes at `offset`; the count read, 0 at the end of the file.
  absl::StatusOr<size_t> Read(char* data, size_t size, uint64_t offset) const;
  // Makes the file `size` bytes long with all of them allocated on disk (what is written stays),
  // so that a full disk fails now rather than hours into a download (ResourceExhausted, with a
  // hint). Where the filesystem cannot preallocate, only sets the size.
  absl::Status Reserve(uint64_t size) const;
  // Gives the disk space of [offset, offset + size) back where the filesystem can (the size
  // stays; the bytes there read as zeros).
  void Release(uint64_t offset, uint64_t size) const;
  // Makes what was written so far durable (fdatasync).
  absl::Status Sync() const;
  // Starts writing back what the page cache holds of [offset, offset + size), so that the
  // fsync before the install has little left to do.
  void StartWriteback(uint64_t offset, uint64_t size) const;

 private:
  PartialData(std::filesystem::path path, int fd, int direct_fd)
      : path_(std::move(path)), fd_(fd), direct_fd_(direct_fd) {}
  static absl::StatusOr<std::unique_ptr<PartialData>> WithDirectWrites(const DirFd& dir,
                                                                       const std::string& name,
                                                                       UniqueFd fd, bool direct);
  absl::Status WriteAll(int fd, const char* data, size_t size, uint64_t offset) const;

  const std::filesystem::path path_;
  const int fd_;         // read-write, through the page cache
  const int direct_fd_;  // write-only, O_DIRECT; -1 when the filesystem refuses it
  std::atomic<bool> direct_refused_{false};  // a direct write failed with EINVAL: stop trying
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_PARTIAL_DATA_H_
