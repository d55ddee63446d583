#include "client/render/progress.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "client/render/visible.h"
#include "common/units.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

std::string Amount(uint64_t value, v1::ProgressUnit unit) {
  return unit == v1::PROGRESS_UNIT_BYTES ? FormatBytes(value) : absl::StrCat(value);
}

std::string Duration(int64_t seconds) {
  return absl::StrFormat("%d:%02d:%02d", seconds / 3600, (seconds / 60) % 60, seconds % 60);
}

}  // namespace

std::string FormatWaiting(const v1::WaitingFor& waiting) {
  return absl::StrCat("waiting for ", waiting.description(), " to finish with ",
                      waiting.resource());
}

std::string FormatProgress(const v1::Progress& progress, bool with_bar) {
  std::string line = progress.phase();
  if (!progress.current_item().empty()) absl::StrAppend(&line, " ", progress.current_item());
  if (progress.total() > 0) {
    const double fraction =
        std::min(1.0, static_cast<double>(progress.done()) / static_cast<double>(progress.total()));
    if (with_bar) {
      constexpr int kWidth = 24;
      const int filled = static_cast<int>(fraction * kWidth);
      absl::StrAppend(&line, "  [", std::string(filled, '#'), std::string(kWidth - filled, '-'),
                      "]");
    }
    absl::StrAppend(&line, absl::StrFormat("  %3d%%", static_cast<int>(fraction * 100)), "  ",
                    Amount(progress.done(), progress.unit()), " / ",
                    Amount(progress.total(), progress.unit()));
  } else {
    absl::StrAppend(&line, "  ", Amount(progress.done(), progress.unit()));
  }
  if (progress.rate_per_second() > 0) {
    absl::StrAppend(&line, "  ",
                    progress.unit() == v1::PROGRESS_UNIT_BYTES
                        ? FormatBytes(static_cast<uint64_t>(progress.rate_per_second())) + "/s"
                        : absl::StrFormat("%.1f/s", progress.rate_per_second()));
  }
  if (progress.has_eta()) absl::StrAppend(&line, "  ETA ", Duration(progress.eta().seconds()));
  return line;
}

ProgressDisplay::ProgressDisplay(std::FILE* out, bool terminal, bool quiet, Style style)
    : out_(out), terminal_(terminal), quiet_(quiet), style_(style) {}

void ProgressDisplay::OnEvent(const v1::OperationEvent& original, absl::Time now) {
  if (quiet_) return;
  v1::OperationEvent event = original;
  MakeVisible(&event);
  switch (event.payload_case()) {
    case v1::OperationEvent::kProgress: {
      const v1::Progress& progress = event.progress();
      const bool new_phase = progress.phase() != last_phase_;
      const bool complete = progress.total() > 0 && progress.done() >= progress.total();
      const absl::Duration interval = terminal_ ? absl::Milliseconds(100) : absl::Seconds(1);
      if (!new_phase && !complete && now - last_draw_ < interval) return;
      std::string line = FormatProgress(progress, /*with_bar=*/terminal_);
      if (line == last_line_) return;  // e.g. the final event repeating the last progress
      last_phase_ = progress.phase();
      last_draw_ = now;
      last_line_ = line;
      if (terminal_) {
        Draw(line);
      } else {
        std::fprintf(out_, "%s\n", line.c_str());
      }
      break;
    }
    case v1::OperationEvent::kLog:
    case v1::OperationEvent::kWaitingFor: {
      const std::string text =
          event.has_log() ? event.log().text() : FormatWaiting(event.waiting_for());
      const std::string saved = bar_;
      Clear();
      std::fprintf(out_, "%s\n", style_.Paint(text, Color::kDim).c_str());
      if (!saved.empty()) Draw(saved);
      break;
    }
    default:
      break;
  }
  std::fflush(out_);
}

void ProgressDisplay::Finish() {
  Clear();
  std::fflush(out_);
}

void ProgressDisplay::Draw(const std::string& line) {
  std::fprintf(out_, "\r\x1b[2K%s", line.c_str());
  bar_ = line;
}

void ProgressDisplay::Clear() {
  if (bar_.empty()) return;
  std::fprintf(out_, "\r\x1b[2K");
  bar_.clear();
}

}  // namespace llorch
