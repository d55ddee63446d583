// Fetching one file's bytes from where the Hub says they are: in parallel ranged parts when it
// is large, resumable after any crash, its SHA-256 (and, when the Hub's digest of it is a git
// blob id, that too) computed while the bytes arrive.
//
// On disk, wherever the caller puts them (the store: <dir>/.llorch/<file>.partial):
//   <data>         the file's bytes, preallocated to its full size; parts are written in place.
//                  A fetch that fails gives back the space of the bytes it did not fill (the
//                  next one reserves it again), so a failed download holds what it fetched,
//                  not the whole file; after a crash the preallocation stays.
//   <data>.json    what of it is there: repo, path, commit, etag and size the bytes belong to,
//                  the part size, and for each part how many bytes from its start are written
// The state is saved (temp file, rename) every state_interval and when the fetch stops, and it
// only ever claims bytes that were written and synced before it was saved, so after kill -9 or
// a power loss the next fetch keeps everything it claims and fetches the rest. (Where writes go
// direct, a part goes on from the last aligned byte it holds, and after a failed request from
// the last aligned byte received: under 4 KiB are fetched again, and its writes stay direct.) The
// SHA-256 is not saved: a resumed fetch hashes the kept prefix again, reading it back while the
// missing parts download.
//
// Parts are handed out in file order to up to `connections` workers (see FetchOptions::ramp_up),
// each with its own keep-alive connection. A worker gathers body bytes in 4 MiB chunks and
// queues them to one writer thread, so it goes on receiving while the disk writes (past the page
// cache where it can: partial_data.h). A hashing thread follows the contiguous prefix: chunks
// just received next to it it hashes from memory, while they are still in the CPU's cache;
// anything else it reads back. The worker continuing the prefix runs at most 16 MiB ahead of
// the hash; the others pause while the bytes on disk run more than 256 MiB ahead of it (a link
// faster than SHA-256 on a busy CPU), so the download goes at the hash's pace instead of leaving
// the hashing for the end. In memory: a chunk per connection, at most 8 queued for the disk and
// 16 MiB waiting for the hash (80 MiB with 8 connections). Failed requests are retried as the
// Hub client's RetryPolicy says (a request that moved data starts the count over); a stall (no
// byte for stall_timeout) reconnects; a 401/403 from the CDN (its signed URL expired) asks the
// Hub again, and a changed etag there means the file changed. An answer whose Content-Range or
// Content-Length contradicts the Hub's size is refused at once (HUB_BAD_ANSWER). A server that
// ignores Range (200 and the whole file to a ranged request) gets the file fetched on one
// connection from its first byte; one going on from a byte past the first skips what is here.
#ifndef LLORCH_AGENT_MODELS_HUB_FILE_DOWNLOAD_H_
#define LLORCH_AGENT_MODELS_HUB_FILE_DOWNLOAD_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/models/hub/hub_client.h"
#include "common/dir_fd.h"

namespace llorch {

struct FetchOptions {
  int connections = 8;                      // parallel parts of a large file
  uint64_t parallel_min_bytes = 64 << 20;   // smaller files use one connection
  // 0 = chosen from the size and connections (a partial keeps the parts it was cut into); set,
  // a partial cut otherwise is cut again, keeping what it holds from the first byte on.
  uint64_t part_bytes = 0;
  // A large file starts on one connection; the others open after `ramp_up` unless that one
  // already brings `one_connection_enough` bytes a second. More connections help only where
  // each is held back (a CDN's or proxy's per-connection limit, a long fat pipe); where one
  // fills the line, they cost CPU the hash needs. Zero ramp_up opens them all at once.
  absl::Duration ramp_up = absl::Milliseconds(250);
  uint64_t one_connection_enough = 512 << 20;
  // Writes skip the page cache where the filesystem allows (see partial_data.h).
  bool direct_io = true;
  absl::Duration state_interval = absl::Milliseconds(500);
  absl::Duration progress_interval = absl::Milliseconds(100);
};

struct FetchProgress {
  uint64_t size = 0;     // the file's size
  // Bytes here: kept from an earlier fetch plus fetched now (the last few MiB of which may still
  // be on their way to the disk).
  uint64_t present = 0;
  uint64_t fetched = 0;  // bytes received over the network by this fetch
  uint64_t hashed = 0;   // bytes hashed, from the start of the file
};

struct FetchResult {
  std::string sha256;    // of the whole file, lower-case hex
  std::string git_sha1;  // its git blob id, when RemoteFile::git_sha1 is set; else ""
  uint64_t fetched = 0;  // bytes received over the network by this fetch
  uint64_t kept = 0;     // bytes an earlier fetch had left and this one kept
  // Bytes the hash read back from disk rather than taking from memory: the kept ones, and those
  // a parallel part received too far ahead of the hash. None on one connection from scratch.
  uint64_t read_back = 0;
};

struct FetchHooks {
  std::function<bool()> cancelled;
  // Every progress_interval, and once at the end, on the calling thread.
  std::function<void(const FetchProgress&)> on_progress;
  // The fetch's narration: what it keeps, retries, URL refreshes. Any thread; serialised.
  std::function<void(absl::string_view line)> log;
};

// The partial download `name` (and name + ".json") in `dir`, reached without following a
// symlink: every file here is created, opened, renamed and removed relative to `dir`.
struct PartialFile {
  DirFd dir;
  std::string name;
  std::string state_name() const { return name + ".json"; }
  std::filesystem::path data() const { return dir.PathOf(name); }  // for messages
};

// Fetches `file` (as HubClient::Resolve described it) into the partial's data, keeping what an
// earlier fetch of the same bytes (same etag and size) left there and discarding a partial of other
// bytes. Returns once every byte is on disk and hashed; comparing the hash with the Hub's and
// installing the file are the caller's. Errors (the partial stays, to resume, unless said):
// Cancelled; Unavailable when the retries ran out; DeadlineExceeded likewise for stalls;
// ResourceExhausted when the disk is full; Aborted with reason UPSTREAM_CHANGED when the Hub's
// file changed under the fetch (the partial is discarded); FailedPrecondition when the server has
// fewer bytes than the Hub said, or (reason HUB_BAD_ANSWER) answers what contradicts it; NotFound
// when the bytes vanished.
absl::StatusOr<FetchResult> FetchFile(const HubClient& hub, const RemoteFile& file,
                                      const PartialFile& partial, const FetchOptions& options,
                                      const FetchHooks& hooks);

// Disk space the partial's data holds (its allocated blocks, whatever they belong to): a fetch of
// a file of `size` bytes into `partial` needs `size` minus this more. 0 when there is none.
uint64_t PartialAllocatedBytes(const PartialFile& partial);

// Removes the partial's data and state; missing files are fine.
void DiscardPartial(const PartialFile& partial);

// Moves the finished data to `to_name` in `to` durably (fsync, rename, fsync of the
// directories) and removes the state.
absl::Status InstallPartial(const PartialFile& partial, const DirFd& to,
                            const std::string& to_name);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_FILE_DOWNLOAD_H_
