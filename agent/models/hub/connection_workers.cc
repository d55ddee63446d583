#include "agent/models/hub/connection_workers.h"

#include <algorithm>
#include <cstring>
#include <optional>
#include <tuple>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/models/hub/http_client.h"
#include "agent/models/hub/hub_headers.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/units.h"

namespace llorch {
namespace {

constexpr int kMaxUrlRefreshes = 3;  // in a row, for one part

// Whether the headers of a 2xx answer from `url` to a request for the bytes [first, last] of
// `file` fit the file as the Hub described it; an answer that does not is final (no retry would
// change it).
absl::Status CheckAnswer(const RemoteFile& file, const std::string& url, long status,
                         const HttpResponse& answer, uint64_t first, uint64_t last) {
  std::string contradiction;
  if (status == 206) {
    const std::string range = answer.Header("content-range");
    std::optional<ContentRange> parsed = ParseContentRange(range);
    if (!parsed) {
      contradiction =
          absl::StrCat("an unreadable Content-Range (\"", absl::CHexEscape(range), "\")");
    } else if (parsed->total && *parsed->total != file.size) {
      contradiction = absl::StrCat("Content-Range \"", range, "\": a file of ", *parsed->total,
                                   " bytes, where the Hub says ", file.size, " (X-Linked-Size)");
    } else if (parsed->first != first || parsed->last > last) {
      contradiction = absl::StrCat("Content-Range \"", range, "\" for the bytes ", first, "-", last,
                                   " asked for");
    }
  } else if (status == 200) {
    uint64_t length = 0;
    const std::string header = answer.Header("content-length");
    if (!header.empty() && absl::SimpleAtoi(header, &length) && length != file.size) {
      contradiction =
          absl::StrCat("the whole file as ", length, " bytes (Content-Length), where the Hub says ",
                       file.size, " (X-Linked-Size)");
    }
  }
  if (contradiction.empty()) return absl::OkStatus();
  return WithReason(
      WithHint(absl::FailedPreconditionError(
                   absl::StrCat("the download server of ", file.path, " (", UrlForDisplay(url),
                                ") answered HTTP ", status, " with ", contradiction, "; refused")),
               "the Hub and its download server disagree about the file: run the download "
               "again later (an upload may be under way); if it persists, a proxy in between "
               "may alter answers"),
      reasons::kHubBadAnswer);
}

}  // namespace

std::pair<std::string, uint64_t> DownloadUrl::Get() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {url_, generation_};
}

absl::Status DownloadUrl::Refresh(uint64_t generation) {
  std::lock_guard<std::mutex> refresh(refresh_mu_);
  if (Get().second != generation) return absl::OkStatus();
  control_.Log(absl::StrCat("the download URL of ", file_.path, " expired; asking the Hub again"));
  absl::StatusOr<RemoteFile> fresh =
      hub_.Resolve(file_.repo, file_.revision, file_.path, [this] { return control_.Stopping(); });
  if (!fresh.ok()) return fresh.status();
  if (fresh->etag != file_.etag || fresh->size != file_.size) {
    return WithReason(absl::AbortedError(absl::StrCat("the Hub's ", file_.path,
                                                      " changed during the download (etag ",
                                                      file_.etag, " -> ", fresh->etag, ")")),
                      reasons::kUpstreamChanged);
  }
  std::lock_guard<std::mutex> lock(mu_);
  url_ = fresh->url;
  ++generation_;
  return absl::OkStatus();
}

// One connection: the parts it fetches, one after the other, and its body bytes not yet queued
// for the disk, in a buffer aligned for O_DIRECT. (libcurl hands over at most its buffer size
// per callback; writing in whole chunks keeps the writes few, large and aligned.)
class ConnectionWorkers::Worker {
 public:
  explicit Worker(ConnectionWorkers& fetch) : fetch_(fetch), layout_(fetch.parts_.layout()) {}

  void Run() {
    while (!fetch_.control_.Stopping()) {
      const size_t part = fetch_.next_part_.fetch_add(1);
      if (part >= layout_.parts()) break;
      if (fetch_.parts_.FullyReceived(part)) continue;
      absl::Status status = FetchPart(part);
      if (status.ok()) continue;
      // A cancel is no failure: the other workers still queue what arrived, and FetchFile
      // says it was cancelled once they are done.
      if (!absl::IsCancelled(status)) fetch_.control_.Fail(std::move(status));
      break;
    }
  }

 private:
  const RemoteFile& file() const { return fetch_.file_; }
  const HubClient& hub() const { return fetch_.hub_; }
  PartCounters& parts() { return fetch_.parts_; }
  bool Stopping() const { return fetch_.control_.Stopping(); }

  absl::Status FetchPart(size_t part) {
    const uint64_t start = layout_.start(part);
    const uint64_t length = layout_.length(part);
    int refreshes = 0;
    int empty_answers = 0;
    while (parts().received(part) < length) {
      uint64_t generation = 0;
      std::string url;
      uint64_t mark = parts().received(part);
      const uint64_t before = mark;
      absl::StatusOr<HttpResponse> response = PerformWithRetries(
          connection_,
          [&] {
            FlushAligned();  // what the last attempt received, before the range moves on
            HttpRequest request;
            std::tie(url, generation) = fetch_.url_.Get();
            request.url = url;
            request.headers = hub().HeadersFor(request.url);
            const uint64_t from = parts().received(part);
            request.range = absl::StrCat(start + from, "-", start + length - 1);
            request.on_headers = [this, url, first = start + from, last = start + length - 1](
                                     long status, const HttpResponse& answer) {
              return CheckAnswer(file(), url, status, answer, first, last);
            };
            request.on_body = [this, part, from, body_at = uint64_t{0}](
                                  long status, const char* data, size_t size) mutable {
              const uint64_t at = body_at;
              body_at += size;
              return Take(part, from, status, at, data, size);
            };
            request.cancelled = [this] { return Stopping(); };
            request.connect_timeout = hub().options().connect_timeout;
            request.stall_timeout = hub().options().stall_timeout;
            return request;
          },
          hub().options().retry, RetryRandom(),
          [this](absl::string_view why, absl::Duration wait) {
            fetch_.control_.Log(
                absl::StrCat(why, "; retrying in ",
                             absl::FormatDuration(absl::Trunc(wait, absl::Milliseconds(100)))));
          },
          [&] {
            FlushAligned();
            const uint64_t now = parts().received(part);
            const bool moved = now != mark;
            mark = now;
            return moved;
          });
      Flush();
      if (!response.ok()) {
        absl::Status error = fetch_.control_.error();  // a write error is the real cause
        if (error.ok() && Stopping()) return absl::CancelledError("download cancelled");
        return error.ok() ? response.status() : error;
      }
      const long status = response->status;
      if (status == 206 || (status == 200 && layout_.parts() == 1)) {
        if (parts().received(part) == before &&
            ++empty_answers >= hub().options().retry.max_attempts) {
          return absl::UnavailableError(absl::StrCat("the server sends no bytes of ", file().path,
                                                     " from byte ", start + before));
        }
        refreshes = 0;
        continue;
      }
      if (status == 401 || status == 403) {  // the signed URL expired: ask the Hub again
        if (++refreshes > kMaxUrlRefreshes) {
          return WithHint(absl::PermissionDeniedError(absl::StrCat(
                              "the download server refused ", file().path, " (HTTP ", status,
                              ") even after ", kMaxUrlRefreshes, " fresh URLs from the Hub")),
                          "run the download again later; it resumes");
        }
        if (absl::Status refreshed = fetch_.url_.Refresh(generation); !refreshed.ok()) {
          return refreshed;
        }
        continue;
      }
      if (status == 404 || status == 410) {
        return absl::NotFoundError(absl::StrCat("the download server has no ", file().path,
                                                " any more (HTTP ", status, ")"));
      }
      if (status == 416) {
        return absl::FailedPreconditionError(absl::StrCat(
            "the download server has fewer bytes of ", file().path, " than the ", file().size,
            " the Hub announced (HTTP 416 for byte ", start + parts().received(part), ")"));
      }
      return absl::UnavailableError(absl::StrCat("unexpected HTTP ", status, " for ", file().path,
                                                 " from ", UrlForDisplay(url)));
    }
    return absl::OkStatus();
  }

  // Takes body bytes of `part`, from byte `body_at` of a response to a request from byte `from`
  // of it; false (with the error recorded) when they cannot be used.
  bool Take(size_t part, uint64_t from, long status, uint64_t body_at, const char* data,
            size_t size) {
    fetch_.fetched_.fetch_add(size, std::memory_order_relaxed);
    if (status != 206 && status != 200) {
      fetch_.control_.Fail(absl::FailedPreconditionError(absl::StrCat(
          "the download server of ", file().path, " answered a Range request with HTTP ", status)));
      return false;
    }
    if (status == 200) {
      // The whole file from its first byte, Range ignored. Parts cannot use it: FetchFile
      // starts over on one connection. One part goes on from where it is, skipping what it has.
      if (layout_.parts() > 1) {
        fetch_.control_.Fail(
            WithReason(absl::FailedPreconditionError(absl::StrCat(
                           "the download server of ", file().path,
                           " answered a Range request with HTTP 200 and the whole file")),
                       kRangeIgnored));
        return false;
      }
      if (body_at == 0 && from > 0) {
        fetch_.control_.Log(absl::StrCat("the download server ignores Range requests: it sends ",
                                         file().path, " from its first byte again; the ",
                                         FormatBytes(from),
                                         " here already are skipped, not written again"));
      }
      const uint64_t skip = body_at < from ? std::min<uint64_t>(size, from - body_at) : 0;
      data += skip;
      size -= static_cast<size_t>(skip);
    }
    // Only this worker takes bytes of this part, so its count cannot move under it.
    if (size > layout_.length(part) - parts().arrived(part)) {
      fetch_.control_.Fail(absl::FailedPreconditionError(
          absl::StrCat("the download server sent more bytes of ", file().path, " than asked for")));
      return false;
    }
    pending_part_ = part;
    parts().AddArrived(part, size);
    while (size > 0) {
      if (!pending_) pending_ = fetch_.chunks_.Acquire();
      Chunk& chunk = *pending_;
      const size_t taken = std::min(size, chunk.capacity() - chunk.size);
      std::memcpy(chunk.data() + chunk.size, data, taken);
      chunk.size += taken;
      data += taken;
      size -= taken;
      if (chunk.size == chunk.capacity() && !Flush()) return false;
    }
    return true;
  }

  // Flush() for between the attempts of a request: when writes go direct, only up to the last
  // aligned byte, dropping the rest (under 4 KiB, fetched again), so that the next attempt goes
  // on from an aligned byte and its writes can go direct too.
  bool FlushAligned() {
    if (pending_ && fetch_.writer_.direct()) {
      const uint64_t offset = layout_.start(pending_part_) + parts().received(pending_part_);
      const size_t aligned = static_cast<size_t>(AlignedLength(offset, pending_->size));
      parts().DropArrived(pending_part_, pending_->size - aligned);
      pending_->size = aligned;
    }
    return Flush();
  }

  // Hands the pending bytes to the hash and queues them for the disk (pausing first while they
  // run too far ahead of the hash, unless the fetch is stopping); false, dropping them, once it
  // failed. A cancelled fetch keeps what arrived.
  bool Flush() {
    if (!pending_ || pending_->size == 0) return true;
    const size_t part = pending_part_;
    const uint64_t offset = layout_.start(part) + parts().received(part);
    fetch_.hash_.WaitForRoom(part, offset, offset + pending_->size);
    pending_->offset = offset;
    std::shared_ptr<Chunk> chunk = std::move(pending_);
    const size_t size = chunk->size;
    if (!Stopping()) fetch_.hash_.Offer(chunk);
    if (!fetch_.writer_.Queue(part, std::move(chunk))) {
      parts().DropArrived(part, size);  // never written: not here
      return false;
    }
    return true;
  }

  ConnectionWorkers& fetch_;
  const Layout& layout_;
  HttpConnection connection_;
  size_t pending_part_ = 0;
  std::shared_ptr<Chunk> pending_;
};

ConnectionWorkers::ConnectionWorkers(const HubClient& hub, const RemoteFile& file,
                                     PartCounters& parts, HashFollower& hash, ChunkWriter& writer,
                                     FetchControl& control)
    : hub_(hub),
      file_(file),
      parts_(parts),
      hash_(hash),
      writer_(writer),
      control_(control),
      url_(hub, file, control) {}

ConnectionWorkers::~ConnectionWorkers() { Join(); }

void ConnectionWorkers::Open(size_t count) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    running_ += static_cast<int>(count);
  }
  for (size_t i = 0; i < count; ++i) threads_.emplace_back([this] { Run(); });
}

void ConnectionWorkers::Run() {
  Worker(*this).Run();
  std::lock_guard<std::mutex> lock(mu_);
  --running_;
  ended_.notify_all();
}

bool ConnectionWorkers::WaitUntilDone(absl::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return ended_.wait_for(lock, absl::ToChronoNanoseconds(timeout),
                         [this] { return running_ == 0; });
}

void ConnectionWorkers::Join() {
  for (std::thread& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
}

}  // namespace llorch
