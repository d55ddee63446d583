// The GGUF header reader on any bytes, both ways a header is read: from memory
// (ParseGgufSummary, a download's first bytes) and from an open file in 64 KiB chunks
// (ReadGgufSummaryOfOpenFile, `models info`). Both must agree, and an accepted header lies
// within the bytes given. A prefix (a download's first bytes) says DataLoss only for "not enough
// bytes yet": what it accepts or calls not GGUF, the whole says too.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "agent/models/store/gguf_reader.h"
#include "fuzz/fuzz_check.h"

namespace {

// One memory-backed file, rewritten for every input.
int MemoryFile() {
  static const int fd = memfd_create("gguf-fuzz", MFD_CLOEXEC);
  return fd;
}

bool WriteAll(int fd, const uint8_t* data, size_t size) {
  if (ftruncate(fd, 0) != 0 || lseek(fd, 0, SEEK_SET) != 0) return false;
  while (size > 0) {
    const ssize_t written = write(fd, data, size);
    if (written <= 0) return false;
    data += written;
    size -= static_cast<size_t>(written);
  }
  return lseek(fd, 0, SEEK_SET) == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  const absl::StatusOr<llorch::GgufSummary> parsed = llorch::ParseGgufSummary(bytes, "fuzz.gguf");
  if (parsed.ok()) {
    FUZZ_CHECK(parsed->header_bytes <= size, "the header lies within the bytes");
    FUZZ_CHECK(parsed->version == 2 || parsed->version == 3, "versions 2 and 3 only");
  } else {
    FUZZ_CHECK(absl::StartsWith(parsed.status().message(), "fuzz.gguf"),
               "every error names the source");
  }
  const absl::StatusOr<llorch::GgufSummary> prefix =
      llorch::ParseGgufSummary(bytes.substr(0, size / 2), "fuzz.gguf");
  if (prefix.ok()) {
    FUZZ_CHECK(parsed.ok() && parsed->header_bytes == prefix->header_bytes,
               "a header a prefix holds whole is the whole file's header");
  } else if (absl::IsInvalidArgument(prefix.status())) {
    FUZZ_CHECK(absl::IsInvalidArgument(parsed.status()),
               "what a prefix shows is not GGUF, the whole file is not either");
  }
  const int fd = MemoryFile();
  FUZZ_CHECK(fd >= 0 && WriteAll(fd, data, size), "the memory file takes the bytes");
  const absl::StatusOr<llorch::GgufSummary> read =
      llorch::ReadGgufSummaryOfOpenFile(fd, "fuzz.gguf");
  FUZZ_CHECK(read.ok() == parsed.ok(), "reading the file agrees with parsing the bytes");
  if (read.ok()) {
    FUZZ_CHECK(read->header_bytes == parsed->header_bytes && read->name == parsed->name &&
                   read->architecture == parsed->architecture &&
                   read->parameter_count == parsed->parameter_count &&
                   read->tensor_count == parsed->tensor_count,
               "reading the file gives the summary parsing the bytes gives");
  } else {
    FUZZ_CHECK(read.status().code() == parsed.status().code(),
               "reading the file fails as parsing the bytes does");
  }
  return 0;
}
