// A partial download on disk, as FetchFile leaves it between runs (the store puts it at
// <dir>/.llorch/<file>.partial):
//   <data>         the file's bytes, preallocated to its full size; parts are written in place.
//                  A fetch that fails gives back the space of the bytes it did not fill (the
//                  next one reserves it again); after a crash the preallocation stays.
//   <data>.json    the state: repo, path, commit, etag and size the bytes belong to, the part
//                  size, and for each part how many bytes from its start are written ("done").
// The state is written atomically (temp file, fsync, rename), and SaveFetchState syncs the data
// before it: it only ever claims bytes that were on disk before it was saved, so after kill -9
// or a power loss the next fetch keeps everything it claims and fetches the rest.
#ifndef LLORCH_AGENT_MODELS_HUB_FETCH_STATE_H_
#define LLORCH_AGENT_MODELS_HUB_FETCH_STATE_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "agent/models/hub/file_parts.h"
#include "agent/models/hub/hub_client.h"
#include "agent/models/hub/partial_data.h"
#include "common/dir_fd.h"

namespace llorch {

// The partial download `name` (and name + ".json") in `dir`, reached without following a
// symlink: every file here is created, opened, renamed and removed relative to `dir`.
struct PartialFile {
  DirFd dir;
  std::string name;
  std::string state_name() const { return StateNameOf(name); }
  std::filesystem::path data() const { return dir.PathOf(name); }  // for messages

  static std::string StateNameOf(const std::string& data_name) { return data_name + ".json"; }
};

// What a state file says: which bytes (etag, size), cut how, and how far each part got.
struct FetchState {
  std::string etag;
  Layout layout;
  std::vector<uint64_t> done;  // per part: bytes written from its start
};

// The state of the partial `data_name` in `dir`, when there is one we wrote and it is
// consistent (a count per part, none beyond its part); nullopt otherwise.
std::optional<FetchState> LoadFetchState(const DirFd& dir, const std::string& data_name);

// Whether `state` describes `file`'s bytes and the partial's data is there, of their size.
bool FetchStateFits(const FetchState& state, const PartialFile& partial, const RemoteFile& file);

// The same bytes cut into parts of `part_bytes`: what the old parts held without a gap from the
// first byte.
FetchState Recut(const FetchState& state, uint64_t part_bytes);

// Makes what `data` holds durable, then replaces the partial's state with `state` (of `file`'s
// bytes) atomically. `state.done` must have been read before the call: the sync then covers
// every byte it claims.
absl::Status SaveFetchState(const PartialFile& partial, const RemoteFile& file,
                            const FetchState& state, const PartialData& data);

// Bytes of the partial `data_name` in `dir` that its state says were fetched (what a resume
// keeps, give or take the 4 KiB it realigns); 0 when there is no usable state.
uint64_t PartialFetchedBytes(const DirFd& dir, const std::string& data_name);

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

#endif  // LLORCH_AGENT_MODELS_HUB_FETCH_STATE_H_
