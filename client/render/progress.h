// Live display of an operation's events on stderr, so stdout carries only the result.
//
// Three layers, so that what people see can be tested without a terminal or a real clock:
//   - ProgressEstimate: one phase's rate (a moving average over the last few seconds) and time
//     left (smoothed, counting down between events), from progress events and a clock;
//   - ProgressRenderer: the text of the live line and of each finished phase's summary line;
//   - ProgressDisplay: writes them. On a terminal: one line redrawn in place as events arrive
//     and on a timer (up to 20 times a second), log lines scrolling above it, and each phase (or
//     file) of bytes leaving a summary line with its elapsed time and average rate. Elsewhere (a
//     pipe, a file): a plain line at most every 5 seconds plus the summary lines, no escape codes.
//     Nothing with --quiet.
#ifndef LLORCH_CLIENT_RENDER_PROGRESS_H_
#define LLORCH_CLIENT_RENDER_PROGRESS_H_

#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/render/style.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

// The rate and time left of one phase. Event times (`when`, the agent's clock) measure the rate,
// so that events replayed at once to a late watcher still give the rate they had; this client's
// clock (`now`) measures the time since the last event (a stall, the countdown between events).
class ProgressEstimate {
 public:
  // The rate is an exponentially weighted average with this time constant: the last 3 s weigh
  // about two thirds.
  static constexpr absl::Duration kRateWindow = absl::Seconds(3);
  // The time left moves toward remaining / rate with this time constant, so that a rate that
  // flickers moves it by seconds, while one that changes for good is followed within ~10 s.
  static constexpr absl::Duration kEtaSmoothing = absl::Seconds(4);
  // Silence longer than this lowers the rate shown (no event comes while nothing arrives).
  static constexpr absl::Duration kStallAfter = absl::Milliseconds(500);
  // No time left is shown before the rate has this much history behind it.
  static constexpr absl::Duration kEtaAfter = absl::Seconds(1);

  // `done` of `total` (0: unknown) at `when`, heard at `now`.
  void Add(uint64_t done, uint64_t total, absl::Time when, absl::Time now);

  // Units a second over the last few seconds; 0 before two events.
  double Rate(absl::Time now) const;
  // Time left, or nullopt when unknown (no total, no rate yet, done). Call it at each redraw:
  // it moves the smoothed estimate to `now`.
  std::optional<absl::Duration> Eta(absl::Time now);

  uint64_t done() const { return done_; }
  uint64_t total() const { return total_; }
  // From the phase's first event to its last (event times).
  absl::Duration Span() const { return last_when_ - first_when_; }
  // Units a second over the whole phase, counting only what arrived during it (a resumed
  // download's kept bytes are not speed); 0 when the phase lasted no time.
  double AverageRate() const;

 private:
  bool started_ = false;
  uint64_t first_done_ = 0;
  uint64_t done_ = 0;
  uint64_t total_ = 0;
  absl::Time first_when_;
  absl::Time last_when_;
  absl::Time last_heard_;  // this client's clock
  // Decayed sums of units and seconds: Rate = units_ / seconds_.
  double units_ = 0;
  double seconds_ = 0;
  std::optional<double> eta_seconds_;  // smoothed, as of eta_time_
  absl::Time eta_time_;
};

// The lines of one operation's progress: a live line per phase and item, and a summary when it
// ends. Pure: time comes in as arguments.
class ProgressRenderer {
 public:
  // `with_bar`: a bar, narrowed so that the line fits `columns` (0: no limit).
  explicit ProgressRenderer(bool with_bar, size_t columns = 0)
      : with_bar_(with_bar), columns_(columns) {}

  // Takes a progress (`when`: its event's time). When it starts another phase or item, returns
  // the summary of the one it ends (see Finish).
  std::optional<std::string> Add(const pool::v1::Progress& progress, absl::Time when,
                                 absl::Time now);
  // The live line at `now`; "" before any progress.
  std::string Line(absl::Time now);
  // Ends the current phase: its summary when it counted bytes, else nullopt.
  std::optional<std::string> Finish();

 private:
  bool with_bar_;
  size_t columns_;
  std::optional<pool::v1::Progress> current_;
  ProgressEstimate estimate_;
};

class ProgressDisplay {
 public:
  // Terminal redraws happen at most this often (and this often on a timer).
  static constexpr absl::Duration kRedrawInterval = absl::Milliseconds(50);
  // Elsewhere, progress lines come at most this often (summaries aside).
  static constexpr absl::Duration kPlainInterval = absl::Seconds(5);

  // `timer`: on a terminal, redraw every kRedrawInterval from a thread of its own (so the time
  // left counts down and a stall shows between events); tests that pass their own times say no.
  ProgressDisplay(std::FILE* out, bool terminal, bool quiet, Style style, bool timer = true);
  ~ProgressDisplay();
  ProgressDisplay(const ProgressDisplay&) = delete;
  ProgressDisplay& operator=(const ProgressDisplay&) = delete;

  // Shows `event`'s progress, log line or wait, its strings made visible (visible.h).
  void OnEvent(const pool::v1::OperationEvent& event, absl::Time now = absl::Now());
  // Redraws the live line if it changed and the last redraw is kRedrawInterval old.
  void Tick(absl::Time now = absl::Now());
  // Replaces the live line with the last phase's summary.
  void Finish();

 private:
  void DrawLocked(absl::Time now, bool force);
  // A permanent line, above the live one; `redraw`: the live line comes back below it.
  void PrintLocked(const std::string& line, bool redraw);
  void ClearLocked();
  void StopTimer();

  std::FILE* out_;
  bool terminal_;
  bool quiet_;
  Style style_;
  size_t columns_;  // of the terminal; 0 = unknown
  std::mutex mu_;
  ProgressRenderer renderer_;
  std::string bar_;                              // the live line on screen (terminal only)
  absl::Time last_draw_ = absl::InfinitePast();  // of the live line, or of a plain line
  bool stop_ = false;
  std::condition_variable stop_cv_;
  std::thread timer_;  // last: runs Tick() until StopTimer()
};

// "waiting for operation op-7f3a2c1d (model.download) of this agent to finish with model tiny"
std::string FormatWaiting(const pool::v1::WaitingFor& waiting);

// "hash tinyllama/x.gguf  [#####-----]  50%  512 MB / 1.07 GB  1.10 GB/s  ETA 0:00:01", with the
// rate and time left the agent sent.
std::string FormatProgress(const pool::v1::Progress& progress, bool with_bar);
// The same with a rate (0: none) and time left of the client's, and a bar `bar_width` wide
// (0: none).
std::string FormatProgress(const pool::v1::Progress& progress, size_t bar_width, double rate,
                           std::optional<absl::Duration> eta);

// "4.2s", "3m05s", "1h02m03s".
std::string FormatElapsed(absl::Duration elapsed);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_PROGRESS_H_
