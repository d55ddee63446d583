#include "client/render/progress.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/render/table.h"
#include "client/render/visible.h"
#include "common/units.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

std::string Amount(uint64_t value, v1::ProgressUnit unit) {
  return unit == v1::PROGRESS_UNIT_BYTES ? FormatBytes(value) : absl::StrCat(value);
}

std::string RateText(double rate, v1::ProgressUnit unit) {
  return unit == v1::PROGRESS_UNIT_BYTES ? FormatBytes(static_cast<uint64_t>(rate)) + "/s"
                                         : absl::StrFormat("%.1f/s", rate);
}

std::string Duration(int64_t seconds) {
  return absl::StrFormat("%d:%02d:%02d", seconds / 3600, (seconds / 60) % 60, seconds % 60);
}

constexpr size_t kBarWidth = 24;
constexpr size_t kMinBarWidth = 5;
constexpr size_t kRateAndEtaWidth = 24;  // "  1.00 GB/s" and "  ETA 0:00:00"

double Seconds(absl::Duration duration) { return absl::ToDoubleSeconds(duration); }

absl::Time EventTime(const v1::OperationEvent& event, absl::Time otherwise) {
  if (!event.has_time()) return otherwise;
  return absl::FromUnixSeconds(event.time().seconds()) + absl::Nanoseconds(event.time().nanos());
}

}  // namespace

// --- ProgressEstimate ---

void ProgressEstimate::Add(uint64_t done, uint64_t total, absl::Time when, absl::Time now) {
  if (started_ && done < done_) *this = ProgressEstimate();  // counting again from the start
  if (!started_) {
    started_ = true;
    first_done_ = done;
    first_when_ = last_when_ = when;
  } else if (when > last_when_) {
    // The sums decay by the time that passed, then take the new interval.
    const double interval = Seconds(when - last_when_);
    const double decay = std::exp(-interval / Seconds(kRateWindow));
    units_ = units_ * decay + static_cast<double>(done - done_);
    seconds_ = seconds_ * decay + interval;
    last_when_ = when;
  } else {
    units_ += static_cast<double>(done - done_);  // the same instant: counted with the next
  }
  done_ = done;
  total_ = total;
  last_heard_ = now;
}

double ProgressEstimate::Rate(absl::Time now) const {
  if (seconds_ <= 0) return 0;
  // Silence beyond kStallAfter counts as an interval in which nothing arrived.
  const double silence = std::max(0.0, Seconds(now - last_heard_ - kStallAfter));
  const double decay = std::exp(-silence / Seconds(kRateWindow));
  return units_ * decay / (seconds_ * decay + silence);
}

std::optional<absl::Duration> ProgressEstimate::Eta(absl::Time now) {
  const double rate = Rate(now);
  if (total_ == 0 || done_ >= total_ || rate <= 0 || Span() < kEtaAfter) {
    eta_seconds_.reset();
    return std::nullopt;
  }
  const double target = static_cast<double>(total_ - done_) / rate;
  if (!eta_seconds_) {
    eta_seconds_ = target;
  } else {
    // Counts down by the time that passed, then moves part of the way toward the target.
    const double passed = std::max(0.0, Seconds(now - eta_time_));
    const double predicted = std::max(0.0, *eta_seconds_ - passed);
    const double weight = 1 - std::exp(-passed / Seconds(kEtaSmoothing));
    eta_seconds_ = predicted + weight * (target - predicted);
  }
  eta_time_ = now;
  return absl::Seconds(std::round(*eta_seconds_));
}

double ProgressEstimate::AverageRate() const {
  const double span = Seconds(Span());
  return span > 0 ? static_cast<double>(done_ - first_done_) / span : 0;
}

// --- ProgressRenderer ---

std::optional<std::string> ProgressRenderer::Add(const v1::Progress& progress, absl::Time when,
                                                 absl::Time now) {
  std::optional<std::string> ended;
  if (current_ && (current_->phase() != progress.phase() ||
                   current_->current_item() != progress.current_item())) {
    ended = Finish();
  }
  current_ = progress;
  estimate_.Add(progress.done(), progress.total(), when, now);
  return ended;
}

std::string ProgressRenderer::Line(absl::Time now) {
  if (!current_) return "";
  const double rate = estimate_.Rate(now);
  const std::optional<absl::Duration> eta = estimate_.Eta(now);
  if (!with_bar_ || current_->total() == 0) return FormatProgress(*current_, 0, rate, eta);
  size_t width = kBarWidth;
  if (columns_ > 0) {
    // The rest of the line, with room for the widest rate and time left so that the bar keeps
    // its width as they change, "  [" and "]", and a last free column.
    const size_t rest =
        DisplayWidth(FormatProgress(*current_, 0, 0, std::nullopt)) + kRateAndEtaWidth + 5;
    width = rest + kMinBarWidth <= columns_ ? std::min(kBarWidth, columns_ - rest) : 0;
  }
  return FormatProgress(*current_, width, rate, eta);
}

std::optional<std::string> ProgressRenderer::Finish() {
  if (!current_) return std::nullopt;
  const v1::Progress progress = *std::exchange(current_, std::nullopt);
  const ProgressEstimate estimate = std::exchange(estimate_, ProgressEstimate());
  // Steps and objects (setup, git) pass in place; bytes (downloads, hashing) leave a summary.
  if (progress.unit() != v1::PROGRESS_UNIT_BYTES) return std::nullopt;
  std::string line = progress.phase();
  if (!progress.current_item().empty()) absl::StrAppend(&line, " ", progress.current_item());
  absl::StrAppend(&line, "  ", FormatBytes(estimate.done()));
  if (estimate.total() > 0 && estimate.done() < estimate.total()) {
    absl::StrAppend(&line, " of ", FormatBytes(estimate.total()));
  }
  if (estimate.Span() > absl::ZeroDuration()) {
    absl::StrAppend(&line, " in ", FormatElapsed(estimate.Span()));
    if (estimate.AverageRate() > 0) {
      absl::StrAppend(&line, ", ", RateText(estimate.AverageRate(), progress.unit()),
                      " on average");
    }
  }
  return line;
}

// --- ProgressDisplay ---

ProgressDisplay::ProgressDisplay(std::FILE* out, bool terminal, bool quiet, Style style, bool timer)
    : out_(out),
      terminal_(terminal),
      quiet_(quiet),
      style_(style),
      columns_(terminal ? TerminalColumns(out) : 0),
      renderer_(/*with_bar=*/terminal, columns_) {
  if (!terminal_ || quiet_ || !timer) return;
  timer_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_cv_.wait_for(lock, absl::ToChronoMilliseconds(kRedrawInterval),
                              [this] { return stop_; })) {
      DrawLocked(absl::Now(), /*force=*/false);
      std::fflush(out_);
    }
  });
}

ProgressDisplay::~ProgressDisplay() { StopTimer(); }

void ProgressDisplay::StopTimer() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (timer_.joinable()) timer_.join();
}

void ProgressDisplay::OnEvent(const v1::OperationEvent& original, absl::Time now) {
  if (quiet_) return;
  v1::OperationEvent event = original;
  MakeVisible(&event);
  std::lock_guard<std::mutex> lock(mu_);
  switch (event.payload_case()) {
    case v1::OperationEvent::kProgress: {
      const std::optional<std::string> ended =
          renderer_.Add(event.progress(), EventTime(event, now), now);
      if (ended) PrintLocked(*ended, /*redraw=*/false);
      if (terminal_) {
        DrawLocked(now, /*force=*/ended.has_value() || bar_.empty());
      } else if (now - last_draw_ >= kPlainInterval) {
        std::fprintf(out_, "%s\n", renderer_.Line(now).c_str());
        last_draw_ = now;
      }
      break;
    }
    case v1::OperationEvent::kLog:
    case v1::OperationEvent::kWaitingFor:
      PrintLocked(
          style_.Paint(event.has_log() ? event.log().text() : FormatWaiting(event.waiting_for()),
                       Color::kDim),
          /*redraw=*/true);
      break;
    default:
      break;
  }
  std::fflush(out_);
}

void ProgressDisplay::Tick(absl::Time now) {
  if (quiet_ || !terminal_) return;
  std::lock_guard<std::mutex> lock(mu_);
  DrawLocked(now, /*force=*/false);
  std::fflush(out_);
}

void ProgressDisplay::Finish() {
  StopTimer();
  if (quiet_) return;
  std::lock_guard<std::mutex> lock(mu_);
  const std::optional<std::string> summary = renderer_.Finish();
  ClearLocked();
  if (summary) std::fprintf(out_, "%s\n", summary->c_str());
  std::fflush(out_);
}

void ProgressDisplay::DrawLocked(absl::Time now, bool force) {
  if (stop_ && !force) return;
  std::string line = renderer_.Line(now);
  // A line wider than the terminal would wrap, and "\r" would redraw only its last row.
  if (columns_ > 1) line = Truncate(line, columns_ - 1);
  if (line.empty() || line == bar_) return;
  if (!force && now - last_draw_ < kRedrawInterval) return;
  std::fprintf(out_, "\r\x1b[2K%s", line.c_str());
  bar_ = std::move(line);
  last_draw_ = now;
}

void ProgressDisplay::PrintLocked(const std::string& line, bool redraw) {
  const std::string live = bar_;
  ClearLocked();
  std::fprintf(out_, "%s\n", line.c_str());
  if (redraw && !live.empty()) {
    std::fprintf(out_, "\r\x1b[2K%s", live.c_str());
    bar_ = live;
  }
}

void ProgressDisplay::ClearLocked() {
  if (bar_.empty()) return;
  std::fprintf(out_, "\r\x1b[2K");
  bar_.clear();
}

// --- Formatting ---

std::string FormatWaiting(const v1::WaitingFor& waiting) {
  return absl::StrCat("waiting for ", waiting.description(), " to finish with ",
                      waiting.resource());
}

std::string FormatProgress(const v1::Progress& progress, bool with_bar) {
  return FormatProgress(progress, with_bar ? kBarWidth : 0, progress.rate_per_second(),
                        progress.has_eta()
                            ? std::optional<absl::Duration>(absl::Seconds(progress.eta().seconds()))
                            : std::nullopt);
}

std::string FormatProgress(const v1::Progress& progress, size_t bar_width, double rate,
                           std::optional<absl::Duration> eta) {
  std::string line = progress.phase();
  if (!progress.current_item().empty()) absl::StrAppend(&line, " ", progress.current_item());
  if (progress.total() > 0) {
    const double fraction =
        std::min(1.0, static_cast<double>(progress.done()) / static_cast<double>(progress.total()));
    if (bar_width > 0) {
      const size_t filled = static_cast<size_t>(fraction * static_cast<double>(bar_width));
      absl::StrAppend(&line, "  [", std::string(filled, '#'), std::string(bar_width - filled, '-'),
                      "]");
    }
    absl::StrAppend(&line, absl::StrFormat("  %3d%%", static_cast<int>(fraction * 100)), "  ",
                    Amount(progress.done(), progress.unit()), " / ",
                    Amount(progress.total(), progress.unit()));
  } else {
    absl::StrAppend(&line, "  ", Amount(progress.done(), progress.unit()));
  }
  if (rate > 0) absl::StrAppend(&line, "  ", RateText(rate, progress.unit()));
  if (eta) absl::StrAppend(&line, "  ETA ", Duration(absl::ToInt64Seconds(*eta)));
  return line;
}

std::string FormatElapsed(absl::Duration elapsed) {
  const int64_t seconds = absl::ToInt64Seconds(elapsed);
  if (seconds < 60) return absl::StrFormat("%.1fs", absl::ToDoubleSeconds(elapsed));
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  return absl::StrFormat("%dh%02dm%02ds", seconds / 3600, (seconds / 60) % 60, seconds % 60);
}

}  // namespace llorch
