#include "agent/models/hub/file_download.h"

#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/models/hub/partial_data.h"
#include "agent/models/store/sha256_file.h"
#include "common/atomic_file.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/units.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace {

constexpr int kStateVersion = 1;
constexpr uint64_t kMiB = 1 << 20;
constexpr size_t kHashBlockBytes = 256 << 10;  // as in sha256_file.cc: stays in the L2 cache
// Start writing hashed data back to disk in steps this big, so the fsync before the install
// has little left to do.
constexpr uint64_t kWritebackBytes = 64 << 20;
constexpr int kMaxUrlRefreshes = 3;  // in a row, for one part
constexpr uint64_t kAlignBytes = 64 << 10;
// Body bytes are written in chunks this big: direct writes of 1 MiB took a quarter longer per
// GiB than of 4 MiB, and 8 MiB chunks fall out of the CPU's cache before they are hashed.
constexpr size_t kWriteBytes = 4 << 20;
// Received chunks this close ahead of the hashed prefix stay in memory for the hash (more and
// they no longer fit the cache: hashing bytes from memory costs half as much again); those
// further ahead it reads back from disk.
constexpr uint64_t kHashWindowBytes = 16 << 20;
// Chunks received but not yet written; beyond, the workers wait for the disk.
constexpr size_t kWriteQueueChunks = 8;
// How far the bytes on disk may run ahead of the hash. Beyond it, every part but the one
// continuing the hashed prefix pauses: on a link faster than the hash, receiving ahead only
// moves the hashing to the end (and, for a file larger than the page cache, back to the disk),
// and the paused connections leave the CPU to the hash.
constexpr uint64_t kMaxUnhashedBytes = 256 << 20;
// A saved state is a few bytes per part; anything larger was not written by us.
constexpr uint64_t kMaxStateBytes = 16 << 20;

// How the file is cut into parts: part i covers [i * part_bytes, min(size, (i+1) * part_bytes)).
struct Layout {
  uint64_t size = 0;
  uint64_t part_bytes = 1;

  size_t parts() const { return static_cast<size_t>((size + part_bytes - 1) / part_bytes); }
  uint64_t start(size_t part) const { return part * part_bytes; }
  uint64_t length(size_t part) const { return std::min(part_bytes, size - start(part)); }
};

// Of `length` bytes from file offset `offset`, those up to the last aligned offset.
uint64_t AlignedLength(uint64_t offset, uint64_t length) {
  const uint64_t end = (offset + length) / Chunk::kAlignment * Chunk::kAlignment;
  return end > offset ? end - offset : 0;
}

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
  return (part + kAlignBytes - 1) / kAlignBytes * kAlignBytes;
}

struct SavedState {
  std::string etag;
  Layout layout;
  std::vector<uint64_t> done;
};

// The state of the same bytes cut into parts of `part_bytes`: what the old parts held without a
// gap from the first byte.
SavedState Recut(const SavedState& state, uint64_t part_bytes) {
  uint64_t prefix = 0;
  for (size_t i = 0; i < state.done.size(); ++i) {
    prefix += state.done[i];
    if (state.done[i] < state.layout.length(i)) break;
  }
  SavedState recut{state.etag, Layout{state.layout.size, part_bytes}, {}};
  for (size_t i = 0; i < recut.layout.parts(); ++i) {
    const uint64_t start = recut.layout.start(i);
    recut.done.push_back(prefix > start ? std::min(prefix - start, recut.layout.length(i)) : 0);
  }
  return recut;
}

// A 200 to a ranged request of one of several parts: the fetch starts over in one part.
constexpr char kRangeIgnored[] = "RANGE_IGNORED";

// "bytes A-B/T" or "bytes A-B/*".
struct ContentRange {
  uint64_t first = 0;
  uint64_t last = 0;
  std::optional<uint64_t> total;
};

std::optional<ContentRange> ParseContentRange(absl::string_view header) {
  if (!absl::ConsumePrefix(&header, "bytes ")) return std::nullopt;
  const size_t dash = header.find('-');
  const size_t slash = header.find('/');
  if (dash == absl::string_view::npos || slash == absl::string_view::npos || slash < dash) {
    return std::nullopt;
  }
  ContentRange range;
  if (!absl::SimpleAtoi(header.substr(0, dash), &range.first) ||
      !absl::SimpleAtoi(header.substr(dash + 1, slash - dash - 1), &range.last) ||
      range.last < range.first) {
    return std::nullopt;
  }
  const absl::string_view total = header.substr(slash + 1);
  if (total != "*") {
    uint64_t value = 0;
    if (!absl::SimpleAtoi(total, &value)) return std::nullopt;
    range.total = value;
  }
  return range;
}

std::optional<SavedState> LoadState(const PartialFile& partial) {
  absl::StatusOr<std::string> text = partial.dir.ReadFile(partial.state_name(), kMaxStateBytes);
  if (!text.ok()) return std::nullopt;
  nlohmann::json json = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || json.value("version", 0) != kStateVersion) return std::nullopt;
  SavedState state;
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

// The saved state fits `file`, and the data it describes is there.
bool Fits(const SavedState& state, const PartialFile& partial, const RemoteFile& file) {
  std::optional<struct stat> info = partial.dir.Stat(partial.name);
  return state.etag == file.etag && state.layout.size == file.size && info &&
         S_ISREG(info->st_mode) && static_cast<uint64_t>(info->st_size) == file.size;
}

class Fetcher {
 public:
  Fetcher(const HubClient& hub, const RemoteFile& file, const PartialFile& partial,
          const FetchOptions& options, const FetchHooks& hooks)
      : hub_(hub), file_(file), partial_(partial), options_(options), hooks_(hooks) {}

  absl::StatusOr<FetchResult> Run() {
    if (absl::Status status = Open(); !status.ok()) return status;
    std::thread hasher([this] { Hash(); });
    std::thread writer([this] { WriteOut(); });
    std::vector<std::thread> workers;
    size_t missing_parts = 0;
    for (size_t i = 0; i < layout_.parts(); ++i) {
      if (done_[i].load() < layout_.length(i)) ++missing_parts;
    }
    const size_t worker_count =
        std::min<size_t>(missing_parts, static_cast<size_t>(std::max(options_.connections, 1)));
    const absl::Time start = absl::Now();
    auto add_workers = [&](size_t count) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        active_workers_ += static_cast<int>(count);
      }
      for (size_t i = 0; i < count; ++i) workers.emplace_back([this] { Work(); });
    };
    add_workers(options_.ramp_up > absl::ZeroDuration() ? std::min<size_t>(worker_count, 1)
                                                        : worker_count);
    absl::Time last_save = start;
    WaitUntil([this] { return active_workers_ == 0; }, [&] {
      const absl::Time now = absl::Now();
      if (!worker_count_settled_ && workers.size() < worker_count &&
          now - start >= options_.ramp_up) {
        const double rate = static_cast<double>(fetched_.load()) /
                            absl::ToDoubleSeconds(now - start);
        const std::string speed = FormatBytes(static_cast<uint64_t>(rate));
        if (rate < static_cast<double>(options_.one_connection_enough)) {
          Log(absl::StrCat("one connection brings ", speed, "/s: opening ",
                           worker_count - workers.size(), " more"));
          add_workers(worker_count - workers.size());
        } else {
          Log(absl::StrCat("one connection brings ", speed, "/s: no more are opened"));
          worker_count_settled_ = true;
        }
      }
      if (now - last_save >= options_.state_interval) {
        SaveStateOrSay();
        last_save = now;
      }
    });
    for (std::thread& worker : workers) worker.join();
    {
      std::lock_guard<std::mutex> lock(write_mu_);
      receiving_done_ = true;
      to_write_.notify_one();
    }
    writer.join();
    absl::Status error = Error();
    if (error.ok() && Stopping()) error = absl::CancelledError("download cancelled");
    if (!error.ok()) stop_.store(true);
    WaitUntil([this] { return hash_finished_; }, [] {});
    hasher.join();
    SaveStateOrSay();
    Report();
    if (error.ok()) error = Error();  // the hasher's
    if (!error.ok()) {
      if (GetReason(error) == reasons::kUpstreamChanged) {
        DiscardPartial(partial_);
      } else {
        ReleaseUnfilled();
      }
      return error;
    }
    return FetchResult{sha256_, git_sha1_, fetched_.load(), kept_, read_back_};
  }

 private:
  // Keeps a fitting partial or starts a new one, preallocated; saves the initial state.
  absl::Status Open() {
    std::optional<SavedState> saved = LoadState(partial_);
    if (saved && Fits(*saved, partial_, file_)) {
      if (options_.part_bytes > 0 && saved->layout.part_bytes != options_.part_bytes) {
        *saved = Recut(*saved, options_.part_bytes);
      }
      layout_ = saved->layout;
      done_ = std::make_unique<std::atomic<uint64_t>[]>(layout_.parts());
      received_ = std::make_unique<std::atomic<uint64_t>[]>(layout_.parts());
      absl::StatusOr<std::unique_ptr<PartialData>> data =
          PartialData::Open(partial_.dir, partial_.name, options_.direct_io);
      if (!data.ok()) return data.status();
      data_ = *std::move(data);
      // A failed fetch gave back the space it had not filled: reserve it again.
      if (absl::Status reserved = data_->Reserve(file_.size); !reserved.ok()) return reserved;
      for (size_t i = 0; i < layout_.parts(); ++i) {
        // An unfinished part goes on from an aligned byte, so that its writes can go direct.
        const uint64_t done = saved->done[i] == layout_.length(i)
                                  ? saved->done[i]
                                  : AlignedLength(layout_.start(i), saved->done[i]);
        done_[i] = done;
        received_[i] = done;
        kept_ += done;
      }
      if (kept_ > 0) {
        Log(absl::StrCat("resuming: ", kept_, " of ", file_.size, " bytes of ", file_.path,
                         " are already here"));
      }
    } else {
      if (saved || partial_.dir.Stat(partial_.name)) {
        Log(absl::StrCat("discarding a partial download of other bytes (the Hub's ", file_.path,
                         " is now etag ", file_.etag, ", ", file_.size, " bytes)"));
      }
      DiscardPartial(partial_);
      layout_ = Layout{file_.size, ChoosePartBytes(file_.size, options_)};
      done_ = std::make_unique<std::atomic<uint64_t>[]>(layout_.parts());
      received_ = std::make_unique<std::atomic<uint64_t>[]>(layout_.parts());
      for (size_t i = 0; i < layout_.parts(); ++i) done_[i] = received_[i] = 0;
      absl::StatusOr<std::unique_ptr<PartialData>> data =
          PartialData::Create(partial_.dir, partial_.name, file_.size, options_.direct_io);
      if (!data.ok()) {
        DiscardPartial(partial_);
        return data.status();
      }
      data_ = *std::move(data);
    }
    url_ = file_.url;
    return SaveState();
  }

  // Gives back the disk space reserved for the bytes not fetched, so that a failed fetch does
  // not hold the whole file's size while it waits to be resumed.
  void ReleaseUnfilled() {
    for (size_t i = 0; i < layout_.parts(); ++i) {
      const uint64_t done = done_[i].load();
      if (done < layout_.length(i)) {
        data_->Release(layout_.start(i) + done, layout_.length(i) - done);
      }
    }
  }

  // Runs `tick` every progress_interval (with a progress report) until `done` holds.
  void WaitUntil(const std::function<bool()>& done, const std::function<void()>& tick) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!done()) {
      changed_.wait_for(lock, absl::ToChronoMilliseconds(options_.progress_interval));
      if (done()) break;
      lock.unlock();
      Report();
      tick();
      lock.lock();
    }
  }

  void Report() {
    if (!hooks_.on_progress) return;
    FetchProgress progress;
    progress.size = layout_.size;
    progress.present = Sum(received_);
    progress.fetched = fetched_.load();
    progress.hashed = hashed_.load();
    hooks_.on_progress(progress);
  }

  bool Stopping() const {
    return stop_.load(std::memory_order_relaxed) || (hooks_.cancelled && hooks_.cancelled());
  }

  // The first error wins and stops every thread.
  void Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = std::move(status);
    stop_.store(true);
    changed_.notify_all();
  }

  absl::Status Error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

  void Log(const std::string& line) {
    if (!hooks_.log) return;
    std::lock_guard<std::mutex> lock(log_mu_);
    hooks_.log(line);
  }

  absl::Status SaveState() {
    nlohmann::json done = nlohmann::json::array();
    for (size_t i = 0; i < layout_.parts(); ++i) done.push_back(done_[i].load());
    // What the state claims is on the disk first, also after a power loss (cheap: the direct
    // writes are on the device already; this flushes its cache).
    if (absl::Status synced = data_->Sync(); !synced.ok()) return synced;
    const nlohmann::json state = {{"version", kStateVersion}, {"repo", file_.repo},
                                  {"path", file_.path},       {"revision", file_.revision},
                                  {"commit", file_.commit},   {"etag", file_.etag},
                                  {"size", layout_.size},     {"part_bytes", layout_.part_bytes},
                                  {"done", done}};
    return WriteFileAtomically(partial_.dir, partial_.state_name(), state.dump() + "\n");
  }

  // The periodic saves only bound how much a crash loses: a failed one is worth a line, once.
  void SaveStateOrSay() {
    absl::Status status = SaveState();
    if (status.ok() || state_error_said_) return;
    state_error_said_ = true;
    Log(absl::StrCat("cannot save the download state (a crash now would lose the progress): ",
                     status.message()));
  }

  // A worker's body bytes of one part not yet on disk, in a buffer aligned for O_DIRECT.
  // libcurl hands over at most its buffer size per callback; writing in whole chunks keeps the
  // writes few, large and aligned.
  struct PendingBytes {
    size_t part = 0;
    std::shared_ptr<Chunk> chunk;
  };

  void Work() {
    HttpConnection connection;
    PendingBytes pending;
    while (!Stopping()) {
      const size_t part = next_part_.fetch_add(1);
      if (part >= layout_.parts()) break;
      if (received_[part].load() == layout_.length(part)) continue;
      if (absl::Status status = FetchPart(connection, part, pending); !status.ok()) {
        Fail(std::move(status));
        break;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    --active_workers_;
    changed_.notify_all();
  }

  absl::Status FetchPart(HttpConnection& connection, size_t part, PendingBytes& pending) {
    const uint64_t start = layout_.start(part);
    const uint64_t length = layout_.length(part);
    int refreshes = 0;
    int empty_answers = 0;
    while (received_[part].load() < length) {
      uint64_t generation = 0;
      uint64_t mark = received_[part].load();
      const uint64_t before = mark;
      absl::StatusOr<HttpResponse> response = PerformWithRetries(
          connection,
          [&] {
            FlushAligned(pending);  // what the last attempt received, before the range moves on
            HttpRequest request;
            std::tie(request.url, generation) = Url();
            request.headers = hub_.HeadersFor(request.url);
            const uint64_t from = received_[part].load();
            request.range = absl::StrCat(start + from, "-", start + length - 1);
            request.on_headers = [this, first = start + from, last = start + length - 1](
                                     long status, const HttpResponse& answer) {
              return CheckAnswer(status, answer, first, last);
            };
            request.on_body = [this, part, from, &pending, body_at = uint64_t{0}](
                                  long status, const char* data, size_t size) mutable {
              const uint64_t at = body_at;
              body_at += size;
              return Write(pending, part, from, status, at, data, size);
            };
            request.cancelled = [this] { return Stopping(); };
            request.connect_timeout = hub_.options().connect_timeout;
            request.stall_timeout = hub_.options().stall_timeout;
            return request;
          },
          hub_.options().retry, RetryRandom(),
          [this](absl::string_view why, absl::Duration wait) {
            Log(absl::StrCat(why, "; retrying in ",
                             absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(100)))));
          },
          [&] {
            FlushAligned(pending);
            const uint64_t now = received_[part].load();
            const bool moved = now != mark;
            mark = now;
            return moved;
          });
      Flush(pending);
      if (!response.ok()) {
        absl::Status error = Error();  // a write error is the real cause of an aborted body
        if (error.ok() && Stopping()) return absl::CancelledError("download cancelled");
        return error.ok() ? response.status() : error;
      }
      const long status = response->status;
      if (status == 206 || (status == 200 && layout_.parts() == 1)) {
        if (received_[part].load() == before &&
            ++empty_answers >= hub_.options().retry.max_attempts) {
          return absl::UnavailableError(absl::StrCat("the server sends no bytes of ", file_.path,
                                                     " from byte ", start + before));
        }
        refreshes = 0;
        continue;
      }
      if (status == 401 || status == 403) {  // the signed URL expired: ask the Hub again
        if (++refreshes > kMaxUrlRefreshes) {
          return WithHint(absl::PermissionDeniedError(absl::StrCat(
                              "the download server refused ", file_.path, " (HTTP ", status,
                              ") even after ", kMaxUrlRefreshes, " fresh URLs from the Hub")),
                          "run the download again later; it resumes");
        }
        if (absl::Status refreshed = RefreshUrl(generation); !refreshed.ok()) return refreshed;
        continue;
      }
      if (status == 404 || status == 410) {
        return absl::NotFoundError(absl::StrCat("the download server has no ", file_.path,
                                                " any more (HTTP ", status, ")"));
      }
      if (status == 416) {
        return absl::FailedPreconditionError(
            absl::StrCat("the download server has fewer bytes of ", file_.path, " than the ",
                         file_.size, " the Hub announced (HTTP 416 for byte ",
                         start + received_[part].load(), ")"));
      }
      return absl::UnavailableError(absl::StrCat("unexpected HTTP ", status, " for ", file_.path,
                                                 " from ", UrlForDisplay(Url().first)));
    }
    return absl::OkStatus();
  }

  // Whether the headers of a 2xx answer to a request for the bytes [first, last] fit the file
  // as the Hub described it; an answer that does not is final (no retry would change it).
  absl::Status CheckAnswer(long status, const HttpResponse& answer, uint64_t first,
                           uint64_t last) const {
    std::string contradiction;
    if (status == 206) {
      const std::string range = answer.Header("content-range");
      std::optional<ContentRange> parsed = ParseContentRange(range);
      if (!parsed) {
        contradiction =
            absl::StrCat("an unreadable Content-Range (\"", absl::CHexEscape(range), "\")");
      } else if (parsed->total && *parsed->total != file_.size) {
        contradiction = absl::StrCat("Content-Range \"", range, "\": a file of ", *parsed->total,
                                     " bytes, where the Hub says ", file_.size, " (X-Linked-Size)");
      } else if (parsed->first != first || parsed->last > last) {
        contradiction = absl::StrCat("Content-Range \"", range, "\" for the bytes ", first, "-",
                                     last, " asked for");
      }
    } else if (status == 200) {
      uint64_t length = 0;
      const std::string header = answer.Header("content-length");
      if (!header.empty() && absl::SimpleAtoi(header, &length) && length != file_.size) {
        contradiction = absl::StrCat("the whole file as ", length,
                                     " bytes (Content-Length), where the Hub says ", file_.size,
                                     " (X-Linked-Size)");
      }
    }
    if (contradiction.empty()) return absl::OkStatus();
    return WithReason(
        WithHint(absl::FailedPreconditionError(absl::StrCat(
                     "the download server of ", file_.path, " (", UrlForDisplay(Url().first),
                     ") answered HTTP ", status, " with ", contradiction, "; refused")),
                 "the Hub and its download server disagree about the file: run the download "
                 "again later (an upload may be under way); if it persists, a proxy in between "
                 "may alter answers"),
        reasons::kHubBadAnswer);
  }

  // Takes body bytes of `part`, from byte `body_at` of a response to a request from byte `from`
  // of it; false (with the error recorded) when they cannot be used.
  bool Write(PendingBytes& pending, size_t part, uint64_t from, long status, uint64_t body_at,
             const char* data, size_t size) {
    fetched_.fetch_add(size, std::memory_order_relaxed);
    if (status != 206 && status != 200) {
      Fail(absl::FailedPreconditionError(absl::StrCat(
          "the download server of ", file_.path, " answered a Range request with HTTP ", status)));
      return false;
    }
    if (status == 200) {
      // The whole file from its first byte, Range ignored. Parts cannot use it: FetchFile starts
      // over on one connection. One part goes on from where it is, skipping what it has.
      if (layout_.parts() > 1) {
        Fail(WithReason(absl::FailedPreconditionError(absl::StrCat(
                            "the download server of ", file_.path,
                            " answered a Range request with HTTP 200 and the whole file")),
                        kRangeIgnored));
        return false;
      }
      if (body_at == 0 && from > 0) {
        Log(absl::StrCat("the download server ignores Range requests: it sends ", file_.path,
                         " from its first byte again; the ", from,
                         " bytes here already are skipped, not written again"));
      }
      const uint64_t skip = body_at < from ? std::min<uint64_t>(size, from - body_at) : 0;
      data += skip;
      size -= static_cast<size_t>(skip);
    }
    // Only this thread receives this part, so received_ cannot move under it.
    const size_t buffered = pending.chunk ? pending.chunk->size : 0;
    const uint64_t done = received_[part].load(std::memory_order_relaxed) + buffered;
    if (size > layout_.length(part) - done) {
      Fail(absl::FailedPreconditionError(absl::StrCat(
          "the download server sent more bytes of ", file_.path, " than asked for")));
      return false;
    }
    pending.part = part;
    while (size > 0) {
      if (!pending.chunk) pending.chunk = chunks_.Acquire();
      Chunk& chunk = *pending.chunk;
      const size_t taken = std::min(size, chunk.capacity() - chunk.size);
      std::memcpy(chunk.data() + chunk.size, data, taken);
      chunk.size += taken;
      data += taken;
      size -= taken;
      if (chunk.size == chunk.capacity() && !Flush(pending)) return false;
    }
    return true;
  }

  // Flush() for between the attempts of a request: when writes go direct, only up to the last
  // aligned byte, dropping the rest (under 4 KiB, fetched again), so that the next attempt goes
  // on from an aligned byte and its writes can go direct too.
  bool FlushAligned(PendingBytes& pending) {
    if (pending.chunk && data_->direct()) {
      const uint64_t offset =
          layout_.start(pending.part) + received_[pending.part].load(std::memory_order_relaxed);
      pending.chunk->size = static_cast<size_t>(AlignedLength(offset, pending.chunk->size));
    }
    return Flush(pending);
  }

  // Queues the pending bytes for the writer (waiting while it is kWriteQueueChunks behind);
  // false when the fetch is stopping.
  bool Flush(PendingBytes& pending) {
    if (!pending.chunk || pending.chunk->size == 0) return true;
    const size_t part = pending.part;
    const uint64_t offset = layout_.start(part) + received_[part].load(std::memory_order_relaxed);
    WaitForTheHash(part, offset, offset + pending.chunk->size);
    std::unique_lock<std::mutex> lock(write_mu_);
    while (write_queue_.size() >= kWriteQueueChunks && !Stopping()) {
      written_.wait_for(lock, std::chrono::milliseconds(20));
    }
    if (Stopping()) {
      pending.chunk->size = 0;
      return false;
    }
    pending.chunk->offset = offset;
    received_[part].fetch_add(pending.chunk->size, std::memory_order_relaxed);
    std::shared_ptr<Chunk> chunk = std::move(pending.chunk);
    // To the hash before the writer: once written, the hash could find the bytes on disk before
    // the chunk is offered, and read them back. (write_mu_ then hash_mu_: nothing takes them the
    // other way round.)
    OfferToTheHash(chunk);
    write_queue_.push_back({part, std::move(chunk)});
    to_write_.notify_one();
    return true;
  }

  // The writer thread: writes the queued chunks in order and counts them as present; until the
  // workers are done and the queue is empty, or a write fails. Writing here lets the workers
  // receive while the disk writes.
  void WriteOut() {
    while (true) {
      WriteJob job;
      {
        std::unique_lock<std::mutex> lock(write_mu_);
        to_write_.wait(lock, [this] { return !write_queue_.empty() || receiving_done_; });
        if (write_queue_.empty()) return;
        job = std::move(write_queue_.front());
        write_queue_.pop_front();
        written_.notify_all();
      }
      if (absl::Status status = data_->Write(*job.chunk); !status.ok()) {
        Fail(std::move(status));
        return;
      }
      done_[job.part].fetch_add(job.chunk->size, std::memory_order_release);
      { std::lock_guard<std::mutex> lock(hash_mu_); }  // the hash does not miss the wake-up
      data_arrived_.notify_one();
    }
  }

  // Pauses the worker of `part`, about to queue the bytes [offset, end), while it runs too far
  // ahead of the hash. The part that continues the bytes received without a gap from the hashed
  // prefix on, near the hash, keeps within kHashWindowBytes of it: its bytes go to the hash from
  // memory, while still in the CPU's cache. (It never waits for anything but the hash, and the
  // hash never waits for it: all the bytes before it are there. Far ahead, as while the hash
  // reads back what an earlier fetch kept, it goes on.) Every other part pauses while the bytes
  // on disk run kMaxUnhashedBytes ahead.
  void WaitForTheHash(size_t part, uint64_t offset, uint64_t end) {
    auto too_far = [&] {
      const uint64_t hashed = hashed_.load(std::memory_order_acquire);
      size_t continuing = static_cast<size_t>(hashed / layout_.part_bytes);
      while (continuing < layout_.parts() &&
             received_[continuing].load(std::memory_order_relaxed) == layout_.length(continuing)) {
        ++continuing;
      }
      const uint64_t window_end = hashed + kHashWindowBytes;
      if (part == continuing) return offset <= window_end && end > window_end;
      return Sum(done_) > hashed + kMaxUnhashedBytes;
    };
    std::unique_lock<std::mutex> lock(hash_mu_);
    while (!Stopping() && too_far()) {
      hash_advanced_.wait_for(lock, std::chrono::milliseconds(20));
    }
  }

  // Of done_ or received_: the bytes over all parts.
  uint64_t Sum(const std::unique_ptr<std::atomic<uint64_t>[]>& per_part) const {
    uint64_t sum = 0;
    for (size_t i = 0; i < layout_.parts(); ++i) sum += per_part[i].load(std::memory_order_relaxed);
    return sum;
  }

  std::pair<std::string, uint64_t> Url() const {
    std::lock_guard<std::mutex> lock(mu_);
    return {url_, url_generation_};
  }

  // A new download URL from the Hub, unless another worker got one since `generation`.
  absl::Status RefreshUrl(uint64_t generation) {
    std::lock_guard<std::mutex> refresh(refresh_mu_);
    if (Url().second != generation) return absl::OkStatus();
    Log(absl::StrCat("the download URL of ", file_.path, " expired; asking the Hub again"));
    absl::StatusOr<RemoteFile> fresh =
        hub_.Resolve(file_.repo, file_.revision, file_.path, [this] { return Stopping(); });
    if (!fresh.ok()) return fresh.status();
    if (fresh->etag != file_.etag || fresh->size != file_.size) {
      return WithReason(absl::AbortedError(absl::StrCat(
                            "the Hub's ", file_.path, " changed during the download (etag ",
                            file_.etag, " -> ", fresh->etag, ")")),
                        reasons::kUpstreamChanged);
    }
    std::lock_guard<std::mutex> lock(mu_);
    url_ = fresh->url;
    ++url_generation_;
    return absl::OkStatus();
  }

  // Hands the just received `chunk` to the hash as well when it lies within kHashWindowBytes
  // of the hashed prefix: the hash then reads nothing back, and hashes the bytes while they are
  // still in the CPU's cache (further behind, hashing them costs half as much again).
  void OfferToTheHash(std::shared_ptr<Chunk> chunk) {
    if (chunk->offset >= hashed_.load(std::memory_order_acquire) + kHashWindowBytes) return;
    std::lock_guard<std::mutex> lock(hash_mu_);
    const uint64_t offset = chunk->offset;
    for_the_hash_.emplace(offset, std::move(chunk));
    data_arrived_.notify_one();
  }

  // The waiting chunk holding byte `offset`, if any; those wholly before it are dropped.
  std::shared_ptr<Chunk> TakeForTheHash(uint64_t offset) {
    std::lock_guard<std::mutex> lock(hash_mu_);
    while (!for_the_hash_.empty() && for_the_hash_.begin()->first <= offset) {
      std::shared_ptr<Chunk> chunk = std::move(for_the_hash_.begin()->second);
      for_the_hash_.erase(for_the_hash_.begin());
      if (chunk->offset + chunk->size > offset) return chunk;
    }
    return nullptr;
  }

  // Hashes the contiguous prefix as it grows: from the chunks handed over, else reading back
  // what the workers wrote.
  void Hash() {
    Digest sha256;
    // Only when the Hub's digest is a git blob id: the common SHA-256 path pays nothing for it.
    std::optional<GitBlobDigest> git_blob;
    if (!file_.git_sha1.empty()) git_blob.emplace(layout_.size);
    auto update = [&](const char* data, size_t size) {
      sha256.Update(data, size);
      if (git_blob) git_blob->Update(data, size);
    };
    std::vector<char> buffer(kHashBlockBytes);
    uint64_t hashed = 0;
    uint64_t written_back = 0;
    size_t first_incomplete = 0;
    // The end of the bytes on disk from the start of the file.
    auto end_on_disk = [&] {
      while (first_incomplete < layout_.parts() &&
             done_[first_incomplete].load(std::memory_order_acquire) ==
                 layout_.length(first_incomplete)) {
        ++first_incomplete;
      }
      return first_incomplete < layout_.parts()
                 ? layout_.start(first_incomplete) +
                       done_[first_incomplete].load(std::memory_order_acquire)
                 : layout_.size;
    };
    while (hashed < layout_.size && !stop_.load()) {
      if (std::shared_ptr<Chunk> chunk = TakeForTheHash(hashed)) {
        const size_t skip = static_cast<size_t>(hashed - chunk->offset);
        update(chunk->data() + skip, chunk->size - skip);
        hashed = chunk->offset + chunk->size;
      } else if (const uint64_t end = end_on_disk(); end > hashed) {
        const size_t size =
            static_cast<size_t>(std::min<uint64_t>(end - hashed, buffer.size()));
        absl::StatusOr<size_t> n = data_->Read(buffer.data(), size, hashed);
        if (!n.ok() || *n == 0) {
          Fail(n.ok() ? absl::DataLossError(absl::StrCat(partial_.data().string(),
                                                         " is shorter than its state says"))
                      : n.status());
          break;
        }
        update(buffer.data(), *n);
        hashed += *n;
        read_back_ += *n;
      } else {
        std::unique_lock<std::mutex> lock(hash_mu_);
        data_arrived_.wait_for(lock, std::chrono::milliseconds(20), [&] {
          return stop_.load() ||
                 (!for_the_hash_.empty() && for_the_hash_.begin()->first <= hashed) ||
                 end_on_disk() > hashed;
        });
        continue;
      }
      {
        std::lock_guard<std::mutex> lock(hash_mu_);  // no worker misses the wake-up
        hashed_.store(hashed, std::memory_order_release);
      }
      hash_advanced_.notify_all();
      if (hashed - written_back >= kWritebackBytes) {
        data_->StartWriteback(written_back, hashed - written_back);
        written_back = hashed;
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (hashed == layout_.size) {
      sha256_ = sha256.HexDigest();
      if (git_blob) git_sha1_ = git_blob->HexDigest();
    }
    hash_finished_ = true;
    changed_.notify_all();
  }

  const HubClient& hub_;
  const RemoteFile& file_;
  const PartialFile& partial_;
  const FetchOptions& options_;
  const FetchHooks& hooks_;

  Layout layout_;
  std::unique_ptr<std::atomic<uint64_t>[]> done_;  // per part: bytes written from its start
  // Per part: bytes received from its start, written or queued for the writer.
  std::unique_ptr<std::atomic<uint64_t>[]> received_;
  uint64_t kept_ = 0;
  std::unique_ptr<PartialData> data_;
  uint64_t read_back_ = 0;  // the hasher's until it finishes
  ChunkPool chunks_{kWriteBytes};
  bool state_error_said_ = false;  // main thread only
  bool worker_count_settled_ = false;  // main thread only: no more workers will be added
  std::atomic<size_t> next_part_{0};
  std::atomic<uint64_t> fetched_{0};
  std::atomic<uint64_t> hashed_{0};
  std::atomic<bool> stop_{false};

  mutable std::mutex mu_;  // guards what follows, up to log_mu_
  std::condition_variable changed_;
  absl::Status error_;
  int active_workers_ = 0;
  bool hash_finished_ = false;
  std::string sha256_;
  std::string git_sha1_;
  std::string url_;
  uint64_t url_generation_ = 0;

  struct WriteJob {
    size_t part = 0;
    std::shared_ptr<Chunk> chunk;
  };
  std::mutex write_mu_;  // guards what follows, up to log_mu_
  std::condition_variable to_write_;
  std::condition_variable written_;
  std::deque<WriteJob> write_queue_;
  bool receiving_done_ = false;

  std::mutex log_mu_;
  std::mutex refresh_mu_;
  std::mutex hash_mu_;  // guards for_the_hash_; and for waiting on the two below
  std::map<uint64_t, std::shared_ptr<Chunk>> for_the_hash_;  // by offset
  std::condition_variable data_arrived_;
  std::condition_variable hash_advanced_;
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
  if (absl::Status status = RenameDurably(partial.dir, partial.name, to, to_name);
      !status.ok()) {
    return status;
  }
  partial.dir.Unlink(partial.state_name()).IgnoreError();
  return absl::OkStatus();
}

}  // namespace llorch
