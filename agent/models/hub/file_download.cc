#include "agent/models/hub/file_download.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/models/hub/chunk_writer.h"
#include "agent/models/hub/connection_workers.h"
#include "agent/models/hub/fetch_control.h"
#include "agent/models/hub/file_parts.h"
#include "agent/models/hub/hash_follower.h"
#include "agent/models/hub/partial_data.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/units.h"

namespace llorch {
namespace {

constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kPartAlignBytes = 64 << 10;

uint64_t ChoosePartBytes(uint64_t size, const FetchOptions& options) {
  if (options.part_bytes > 0) return options.part_bytes;
  if (size < options.parallel_min_bytes || options.connections <= 1) {
    return std::max<uint64_t>(size, 1);
  }
  // Four parts per connection keep the hashed prefix close behind the downloaded bytes; a part
  // count that is a multiple of the connections keeps them all busy to the end (a capped CDN
  // would otherwise leave most idle while a few fetch one more part). Rounded up to 64 KiB.
  const uint64_t parts = static_cast<uint64_t>(options.connections) * 4;
  uint64_t part = std::clamp<uint64_t>((size + parts - 1) / parts, 8 * kMiB, 64 * kMiB);
  return (part + kPartAlignBytes - 1) / kPartAlignBytes * kPartAlignBytes;
}

// Runs `task` every `interval` on a thread of its own until destroyed.
class PeriodicTask {
 public:
  PeriodicTask(absl::Duration interval, std::function<void()> task)
      : thread_([this, interval, task = std::move(task)] {
          std::unique_lock<std::mutex> lock(mu_);
          while (!stop_changed_.wait_for(lock, absl::ToChronoNanoseconds(interval),
                                         [this] { return stop_; })) {
            lock.unlock();
            task();
            lock.lock();
          }
        }) {}
  ~PeriodicTask() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      stop_changed_.notify_one();
    }
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable stop_changed_;
  bool stop_ = false;   // guarded by mu_
  std::thread thread_;  // last: it starts once the members above exist
};

class Fetcher {
 public:
  Fetcher(const HubClient& hub, const RemoteFile& file, const PartialFile& partial,
          const FetchOptions& options, const FetchHooks& hooks)
      : hub_(hub),
        file_(file),
        partial_(partial),
        options_(options),
        hooks_(hooks),
        control_(hooks.cancelled, hooks.log) {}

  absl::StatusOr<FetchResult> Run() {
    if (absl::Status status = Open(); !status.ok()) return status;
    HashFollower hash(*parts_, *data_, partial_.data().string(), !file_.git_sha1.empty(), control_);
    ChunkWriter writer(*data_, *parts_, control_, [&hash] { hash.BytesWritten(); });
    ConnectionWorkers workers(hub_, file_, *parts_, hash, writer, control_);
    std::optional<PeriodicTask> saver(std::in_place, options_.state_interval,
                                      [this] { SaveStateOrSay(); });
    size_t missing_parts = 0;
    for (size_t i = 0; i < parts_->parts(); ++i) {
      if (!parts_->FullyReceived(i)) ++missing_parts;
    }
    const size_t worker_count =
        std::min<size_t>(missing_parts, static_cast<size_t>(std::max(options_.connections, 1)));
    const absl::Time start = absl::Now();
    workers.Open(options_.ramp_up > absl::ZeroDuration() ? std::min<size_t>(worker_count, 1)
                                                         : worker_count);
    bool worker_count_settled = false;
    while (!workers.WaitUntilDone(options_.progress_interval)) {
      Report(workers, hash);
      const absl::Time now = absl::Now();
      if (worker_count_settled || workers.opened() >= worker_count ||
          now - start < options_.ramp_up) {
        continue;
      }
      const double rate =
          static_cast<double>(workers.fetched()) / absl::ToDoubleSeconds(now - start);
      const std::string speed = FormatBytes(static_cast<uint64_t>(rate));
      if (rate < static_cast<double>(options_.one_connection_enough)) {
        control_.Log(absl::StrCat("one connection brings ", speed, "/s: opening ",
                                  worker_count - workers.opened(), " more"));
        workers.Open(worker_count - workers.opened());
      } else {
        control_.Log(absl::StrCat("one connection brings ", speed, "/s: no more are opened"));
        worker_count_settled = true;
      }
    }
    workers.Join();
    writer.Finish();
    // A cancel stops the hash too, as a failure: the fetch then ends cancelled, never with a
    // partial digest.
    auto fail_if_cancelled = [this] {
      if (!control_.Failed() && control_.Stopping()) {
        control_.Fail(absl::CancelledError("download cancelled"));
      }
    };
    fail_if_cancelled();
    while (!hash.WaitUntilFinished(options_.progress_interval)) {
      fail_if_cancelled();
      Report(workers, hash);
    }
    const HashFollower::Result hashes = hash.Finish();
    saver.reset();
    SaveStateOrSay();
    Report(workers, hash);
    if (absl::Status error = control_.error(); !error.ok()) {
      if (GetReason(error) == reasons::kUpstreamChanged) {
        DiscardPartial(partial_);
      } else {
        ReleaseUnfilled();
      }
      return error;
    }
    return FetchResult{hashes.sha256, hashes.git_sha1, workers.fetched(), kept_, hashes.read_back};
  }

 private:
  // Keeps a fitting partial or starts a new one, preallocated; saves the initial state.
  absl::Status Open() {
    std::optional<FetchState> saved = LoadFetchState(partial_.dir, partial_.name);
    std::vector<uint64_t> kept;
    if (saved && FetchStateFits(*saved, partial_, file_)) {
      if (options_.part_bytes > 0 && saved->layout.part_bytes != options_.part_bytes) {
        *saved = Recut(*saved, options_.part_bytes);
      }
      absl::StatusOr<std::unique_ptr<PartialData>> data =
          PartialData::Open(partial_.dir, partial_.name, options_.direct_io);
      if (!data.ok()) return data.status();
      data_ = *std::move(data);
      // A failed fetch gave back the space it had not filled: reserve it again.
      if (absl::Status reserved = data_->Reserve(file_.size); !reserved.ok()) return reserved;
      const Layout& layout = saved->layout;
      for (size_t i = 0; i < layout.parts(); ++i) {
        // An unfinished part goes on from an aligned byte, so that its writes can go direct.
        const uint64_t done = saved->done[i] == layout.length(i)
                                  ? saved->done[i]
                                  : AlignedLength(layout.start(i), saved->done[i]);
        kept.push_back(done);
        kept_ += done;
      }
      parts_ = std::make_unique<PartCounters>(layout, kept);
      if (kept_ > 0) {
        control_.Log(absl::StrCat("resuming: ", FormatBytes(kept_), " of ", FormatBytes(file_.size),
                                  " of ", file_.path, " are already here"));
      }
    } else {
      if (saved || partial_.dir.Stat(partial_.name)) {
        control_.Log(absl::StrCat("discarding a partial download of other bytes (the Hub's ",
                                  file_.path, " is now etag ", file_.etag, ", ",
                                  FormatBytes(file_.size), ")"));
      }
      DiscardPartial(partial_);
      const Layout layout{file_.size, ChoosePartBytes(file_.size, options_)};
      parts_ = std::make_unique<PartCounters>(layout, std::vector<uint64_t>(layout.parts(), 0));
      absl::StatusOr<std::unique_ptr<PartialData>> data =
          PartialData::Create(partial_.dir, partial_.name, file_.size, options_.direct_io);
      if (!data.ok()) {
        DiscardPartial(partial_);
        return data.status();
      }
      data_ = *std::move(data);
    }
    return SaveState();
  }

  absl::Status SaveState() {
    return SaveFetchState(partial_, file_, {file_.etag, parts_->layout(), parts_->Written()},
                          *data_);
  }

  // The periodic saves only bound how much a crash loses: a failed one is worth a line, once.
  void SaveStateOrSay() {
    absl::Status status = SaveState();
    if (status.ok() || state_error_said_) return;
    state_error_said_ = true;
    control_.Log(
        absl::StrCat("cannot save the download state (a crash now would lose the progress): ",
                     status.message()));
  }

  // Gives back the disk space reserved for the bytes not fetched, so that a failed fetch does
  // not hold the whole file's size while it waits to be resumed.
  void ReleaseUnfilled() {
    const Layout& layout = parts_->layout();
    for (size_t i = 0; i < layout.parts(); ++i) {
      const uint64_t written = parts_->written(i);
      if (written < layout.length(i)) {
        data_->Release(layout.start(i) + written, layout.length(i) - written);
      }
    }
  }

  void Report(const ConnectionWorkers& workers, const HashFollower& hash) {
    if (!hooks_.on_progress) return;
    // A worker that drops unaligned bytes to go on from an aligned byte takes back under 4 KiB:
    // the count shown does not go back for them.
    shown_present_ = std::max(shown_present_, parts_->TotalArrived());
    hooks_.on_progress(
        FetchProgress{parts_->layout().size, shown_present_, workers.fetched(), hash.hashed()});
  }

  const HubClient& hub_;
  const RemoteFile& file_;
  const PartialFile& partial_;
  const FetchOptions& options_;
  const FetchHooks& hooks_;
  FetchControl control_;

  std::unique_ptr<PartialData> data_;
  std::unique_ptr<PartCounters> parts_;
  uint64_t kept_ = 0;
  uint64_t shown_present_ = 0;     // the calling thread's
  bool state_error_said_ = false;  // the saver's, then (once it ended) the calling thread's
};

}  // namespace

absl::StatusOr<FetchResult> FetchFile(const HubClient& hub, const RemoteFile& file,
                                      const PartialFile& partial, const FetchOptions& options,
                                      const FetchHooks& hooks) {
  absl::StatusOr<FetchResult> result = Fetcher(hub, file, partial, options, hooks).Run();
  if (result.ok() || GetReason(result.status()) != kRangeIgnored) return result;
  if (hooks.log) {
    hooks.log(absl::StrCat(result.status().message(),
                           ": it cannot serve parts, so the file comes on one connection, "
                           "from its first byte"));
  }
  FetchOptions whole = options;
  whole.connections = 1;
  whole.part_bytes = std::max<uint64_t>(file.size, 1);
  return Fetcher(hub, file, partial, whole, hooks).Run();
}

}  // namespace llorch
