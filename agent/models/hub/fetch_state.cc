#include "agent/models/hub/fetch_state.h"

#include <sys/stat.h>

#include <algorithm>

#include "absl/status/statusor.h"
#include "common/atomic_file.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace {

constexpr int kStateVersion = 1;
// A saved state is a few bytes per part; anything larger was not written by us.
constexpr uint64_t kMaxStateBytes = 16 << 20;

// The regular file `name` in `dir` is there with `size` bytes.
bool IsFileOfSize(const DirFd& dir, const std::string& name, uint64_t size) {
  std::optional<struct stat> info = dir.Stat(name);
  return info && S_ISREG(info->st_mode) && static_cast<uint64_t>(info->st_size) == size;
}

}  // namespace

std::optional<FetchState> LoadFetchState(const DirFd& dir, const std::string& data_name) {
  absl::StatusOr<std::string> text =
      dir.ReadFile(PartialFile::StateNameOf(data_name), kMaxStateBytes);
  if (!text.ok()) return std::nullopt;
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || json.value("version", 0) != kStateVersion) return std::nullopt;
  FetchState state;
  state.etag = json.value("etag", "");
  state.layout.size = json.value("size", uint64_t{0});
  state.layout.part_bytes = json.value("part_bytes", uint64_t{0});
  if (state.layout.part_bytes == 0 || !json.contains("done") || !json["done"].is_array()) {
    return std::nullopt;
  }
  for (const nlohmann::json& done : json["done"]) {
    if (!done.is_number_unsigned()) return std::nullopt;
    state.done.push_back(done.get<uint64_t>());
  }
  if (state.done.size() != state.layout.parts()) return std::nullopt;
  for (size_t i = 0; i < state.done.size(); ++i) {
    if (state.done[i] > state.layout.length(i)) return std::nullopt;
  }
  return state;
}

bool FetchStateFits(const FetchState& state, const PartialFile& partial, const RemoteFile& file) {
  return state.etag == file.etag && state.layout.size == file.size &&
         IsFileOfSize(partial.dir, partial.name, file.size);
}

FetchState Recut(const FetchState& state, uint64_t part_bytes) {
  uint64_t prefix = 0;
  for (size_t i = 0; i < state.done.size(); ++i) {
    prefix += state.done[i];
    if (state.done[i] < state.layout.length(i)) break;
  }
  FetchState recut{state.etag, Layout{state.layout.size, part_bytes}, {}};
  for (size_t i = 0; i < recut.layout.parts(); ++i) {
    const uint64_t start = recut.layout.start(i);
    recut.done.push_back(prefix > start ? std::min(prefix - start, recut.layout.length(i)) : 0);
  }
  return recut;
}

absl::Status SaveFetchState(const PartialFile& partial, const RemoteFile& file,
                            const FetchState& state, const PartialData& data) {
  // What the state claims is on the disk first, also after a power loss (cheap: the direct
  // writes are on the device already; this flushes its cache).
  if (absl::Status synced = data.Sync(); !synced.ok()) return synced;
  const nlohmann::json json = {{"version", kStateVersion},  {"repo", file.repo},
                               {"path", file.path},         {"revision", file.revision},
                               {"commit", file.commit},     {"etag", file.etag},
                               {"size", state.layout.size}, {"part_bytes", state.layout.part_bytes},
                               {"done", state.done}};
  return WriteFileAtomically(partial.dir, partial.state_name(), json.dump() + "\n");
}

uint64_t PartialFetchedBytes(const DirFd& dir, const std::string& data_name) {
  std::optional<FetchState> state = LoadFetchState(dir, data_name);
  if (!state || !IsFileOfSize(dir, data_name, state->layout.size)) return 0;
  uint64_t fetched = 0;
  for (uint64_t done : state->done) fetched += done;
  return fetched;
}

uint64_t PartialAllocatedBytes(const PartialFile& partial) {
  std::optional<struct stat> info = partial.dir.Stat(partial.name);
  if (!info || !S_ISREG(info->st_mode)) return 0;
  return static_cast<uint64_t>(info->st_blocks) * 512;
}

void DiscardPartial(const PartialFile& partial) {
  partial.dir.Unlink(partial.name).IgnoreError();
  partial.dir.Unlink(partial.state_name()).IgnoreError();
}

absl::Status InstallPartial(const PartialFile& partial, const DirFd& to,
                            const std::string& to_name) {
  if (absl::Status status = RenameDurably(partial.dir, partial.name, to, to_name); !status.ok()) {
    return status;
  }
  partial.dir.Unlink(partial.state_name()).IgnoreError();
  return absl::OkStatus();
}

}  // namespace llorch
