// What the `hf` backend and the converter share once a child process makes a model file: its
// output in the operation log, byte progress, the SHA-256 pass, the GGUF check and the manifest.
#ifndef LLORCH_AGENT_MODELS_MODEL_INSTALL_H_
#define LLORCH_AGENT_MODELS_MODEL_INSTALL_H_

#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/models/model_store.h"
#include "agent/ops/operation.h"
#include "common/subprocess.h"

namespace llorch {

// Forwards a child's output lines into the operation log (stdout and stderr as such). Progress
// bar redraws (lines ended by a lone '\r') are kept to one a second: a conversion's tqdm bar would
// otherwise add ten lines a second to the history every watcher replays.
class ChildOutputLog {
 public:
  explicit ChildOutputLog(Operation& op, Operation::Clock clock = absl::Now)
      : op_(op), clock_(std::move(clock)) {}
  void operator()(const OutputLine& line);

 private:
  Operation& op_;
  const Operation::Clock clock_;
  absl::Time last_redraw_ = absl::InfinitePast();
};

// Byte progress for one phase, with rate and time left measured from the phase's start.
class ByteProgress {
 public:
  // `total` 0 = unknown.
  ByteProgress(Operation& op, absl::string_view phase, uint64_t total, absl::string_view item);
  // `done` beyond an estimated total makes the total unknown rather than over 100 %.
  void Report(uint64_t done);

 private:
  Operation& op_;
  pool::v1::Progress progress_;
  const absl::Time start_;
};

// SHA-256 of `path` (`size` bytes) as phase "hash" of `op`; CANCELLED when `op` is cancelled.
absl::StatusOr<std::string> HashWithProgress(const std::string& path, uint64_t size,
                                             absl::string_view item, Operation& op);

// OK when `path` starts with a valid GGUF header, else DataLoss naming the file and the fault.
absl::Status CheckGguf(const std::string& path, absl::string_view produced_by);

// Removes the model's manifest (before its file is replaced, so that a crash in between never
// leaves a manifest vouching for other bytes). A missing manifest is fine.
absl::Status RemoveManifest(const ModelStore& store, const CatalogModel& model);

// True for 64 lower- or upper-case hex digits: a Hub etag that is the file's SHA-256 (LFS files;
// other files' etags are git blob ids of 40 digits).
bool IsSha256Hex(absl::string_view text);

// The current time in unix seconds, for Manifest::downloaded_at.
int64_t NowUnixSeconds();

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_INSTALL_H_
