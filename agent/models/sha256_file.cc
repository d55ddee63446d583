#include "agent/models/sha256_file.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace llorch {
namespace {

constexpr size_t kReadBytes = 1 << 20;
constexpr size_t kSlotCount = 4;
constexpr uint64_t kProgressEveryBytes = 4 << 20;

// Reads `fd` into a ring of buffers on its own thread while the caller hashes the filled ones,
// so that the read (a copy from the page cache, or a wait for the disk) overlaps the hashing:
// a plain read-then-hash loop measured about 5% slower than `openssl dgst`.
class ReadAhead {
 public:
  explicit ReadAhead(int fd) : fd_(fd), reader_([this] { ReadAll(); }) {}
  ~ReadAhead() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    changed_.notify_all();
    reader_.join();
  }

  // The next chunk, empty at the end of the file or after a read error (see error()). The
  // chunk stays valid until the next call.
  std::pair<const unsigned char*, size_t> Next() {
    std::unique_lock<std::mutex> lock(mu_);
    if (taken_) {  // hand the previous slot back to the reader
      slots_[next_].filled = false;
      next_ = (next_ + 1) % kSlotCount;
      changed_.notify_all();
    }
    changed_.wait(lock, [this] { return slots_[next_].filled; });
    taken_ = true;
    return {slots_[next_].data.data(), slots_[next_].size};
  }

  // errno of a failed read; 0 when none failed.
  int error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  struct Slot {
    std::vector<unsigned char> data = std::vector<unsigned char>(kReadBytes);
    size_t size = 0;
    bool filled = false;
  };

  void ReadAll() {
    for (size_t index = 0;; index = (index + 1) % kSlotCount) {
      Slot& slot = slots_[index];
      {
        std::unique_lock<std::mutex> lock(mu_);
        changed_.wait(lock, [&] { return stopping_ || !slot.filled; });
        if (stopping_) return;
      }
      size_t size = 0;
      int error = 0;
      while (size < kReadBytes) {
        const ssize_t n = read(fd_, slot.data.data() + size, kReadBytes - size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) error = errno;
        if (n <= 0) break;
        size += static_cast<size_t>(n);
      }
      std::lock_guard<std::mutex> lock(mu_);
      slot.size = error != 0 ? 0 : size;
      slot.filled = true;
      error_ = error;
      changed_.notify_all();
      if (slot.size == 0) return;  // end of file or error: the empty chunk says so
    }
  }

  const int fd_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::array<Slot, kSlotCount> slots_;
  size_t next_ = 0;     // the slot the consumer reads next
  bool taken_ = false;  // the consumer holds slots_[next_]
  bool stopping_ = false;
  int error_ = 0;
  std::thread reader_;  // last: starts after everything it uses
};

}  // namespace

Digest::Digest(Algorithm algorithm) : context_(EVP_MD_CTX_new()) {
  EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(context_),
                    algorithm == Algorithm::kSha1 ? EVP_sha1() : EVP_sha256(), nullptr);
}

Digest::~Digest() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(context_)); }

void Digest::Update(const void* data, size_t size) {
  EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(context_), data, size);
}

std::string Digest::HexDigest() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(context_), digest, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(length * 2);
  for (unsigned int i = 0; i < length; ++i) {
    hex.push_back(kHex[digest[i] >> 4]);
    hex.push_back(kHex[digest[i] & 0xf]);
  }
  return hex;
}

absl::StatusOr<std::string> Sha256File(const std::string& path, const HashProgress& progress) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) return absl::NotFoundError(absl::StrCat(path, " does not exist"));
    return absl::PermissionDeniedError(absl::StrCat("cannot open ", path, ": ", strerror(error)));
  }
  posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  Digest sha256;
  uint64_t done = 0;
  absl::Status failure;
  {
    ReadAhead chunks(fd);
    uint64_t next_progress = kProgressEveryBytes;
    while (true) {
      const auto [data, size] = chunks.Next();
      if (size == 0) {
        if (chunks.error() != 0) {
          failure = absl::DataLossError(absl::StrCat("cannot read ", path, " at byte ", done, ": ",
                                                     strerror(chunks.error())));
        }
        break;
      }
      sha256.Update(data, size);
      done += size;
      if (done < next_progress) continue;
      next_progress = done + kProgressEveryBytes;
      if (progress && !progress(done)) {
        failure =
            absl::CancelledError(absl::StrCat("hashing of ", path, " cancelled at byte ", done));
        break;
      }
    }
  }
  close(fd);
  if (!failure.ok()) return failure;
  if (progress) progress(done);  // the exact total, also for files under 4 MiB
  return sha256.HexDigest();
}

}  // namespace llorch
