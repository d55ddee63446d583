// Live display of an operation's events on stderr, so stdout carries only the result.
//
// On a terminal: one progress bar redrawn in place (at most 10 times a second) with phase, item,
// bytes, percentage, rate and ETA; log lines scroll above it. Elsewhere: plain progress lines,
// at most one a second plus one per phase. Nothing with --quiet.
#ifndef LLORCH_CLIENT_RENDER_PROGRESS_H_
#define LLORCH_CLIENT_RENDER_PROGRESS_H_

#include <cstdio>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/render/style.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

class ProgressDisplay {
 public:
  ProgressDisplay(std::FILE* out, bool terminal, bool quiet, Style style);

  // Shows `event`'s progress, log line or wait, its strings made visible (visible.h).
  void OnEvent(const pool::v1::OperationEvent& event, absl::Time now = absl::Now());
  // Clears the bar, if one is drawn.
  void Finish();

 private:
  void Draw(const std::string& line);
  void Clear();

  std::FILE* out_;
  bool terminal_;
  bool quiet_;
  Style style_;
  std::string bar_;  // the progress line currently on screen (terminal only)
  std::string last_phase_;
  std::string last_line_;  // the last progress line shown
  absl::Time last_draw_ = absl::InfinitePast();
};

// "waiting for operation op-7f3a2c1d (model.download) of this agent to finish with model tiny"
std::string FormatWaiting(const pool::v1::WaitingFor& waiting);

// "hash tinyllama/x.gguf  [#####-----]  50%  512 MB / 1.07 GB  1.10 GB/s  ETA 0:00:01"
std::string FormatProgress(const pool::v1::Progress& progress, bool with_bar);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_PROGRESS_H_
