// Fetching one file's bytes from where the Hub says they are: in parallel ranged parts when it
// is large, resumable after any crash, its SHA-256 (and, when the Hub's digest of it is a git
// blob id, that too) computed while the bytes arrive.
//
// FetchFile coordinates the parts of a fetch, each a file of its own with its contract:
//   fetch_state.h         the partial on disk and its state file: what is fetched, saved
//                         atomically, claiming only synced bytes; a resume keeps what it claims
//   file_parts.h          how the file is cut into parts, and how far each part has come
//   connection_workers.h  ranged GETs of the parts, each worker on a keep-alive connection,
//                         with retries, URL refreshes and the checks of each answer
//   chunk_writer.h        the write pipeline: received chunks to the disk on a thread of its own
//   partial_data.h        the data file, written in place, past the page cache where it can
//   hash_follower.h       the digests, computed in file order as the bytes arrive, which pace
//                         the workers so that the download goes at the hash's pace
// It opens connections one at a time (see FetchOptions::ramp_up), saves the state every
// state_interval on a thread of its own (a save syncs the data, which can take a while), and
// reports progress every progress_interval on the calling thread. (Where writes go direct, a
// resumed part goes on from the last aligned byte it holds: under 4 KiB are fetched again. The
// SHA-256 is not saved: a resumed fetch hashes the kept prefix again, reading it back while the
// missing parts download.) In memory: a 4 MiB chunk per connection, at most 8 queued for the
// disk and 16 MiB waiting for the hash (80 MiB with 8 connections).
#ifndef LLORCH_AGENT_MODELS_HUB_FILE_DOWNLOAD_H_
#define LLORCH_AGENT_MODELS_HUB_FILE_DOWNLOAD_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/models/hub/fetch_state.h"
#include "agent/models/hub/hub_client.h"

namespace llorch {

struct FetchOptions {
  int connections = 8;                     // parallel parts of a large file
  uint64_t parallel_min_bytes = 64 << 20;  // smaller files use one connection
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
  // As often as the operation emits progress (Operation::kProgressInterval).
  absl::Duration progress_interval = absl::Milliseconds(50);
};

struct FetchProgress {
  uint64_t size = 0;  // the file's size
  // Bytes here: kept from an earlier fetch plus received by this one, counted as they arrive
  // (the last few MiB of which may still be on their way to the disk). Never goes back.
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

// Fetches `file` (as HubClient::Resolve described it) into the partial's data, keeping what an
// earlier fetch of the same bytes (same etag and size) left there and discarding a partial of other
// bytes. Returns once every byte is on disk and hashed; comparing the hash with the Hub's and
// installing the file are the caller's. Errors (the partial stays, to resume, unless said):
// Cancelled (what had arrived is written, and its state claims it); Unavailable when the retries
// ran out; DeadlineExceeded likewise for stalls; ResourceExhausted when the disk is full; Aborted
// with reason UPSTREAM_CHANGED when the Hub's file changed under the fetch (the partial is
// discarded); FailedPrecondition when the server has fewer bytes than the Hub said, or (reason
// HUB_BAD_ANSWER) answers what contradicts it; NotFound when the bytes vanished.
absl::StatusOr<FetchResult> FetchFile(const HubClient& hub, const RemoteFile& file,
                                      const PartialFile& partial, const FetchOptions& options,
                                      const FetchHooks& hooks);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_FILE_DOWNLOAD_H_
