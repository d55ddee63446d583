// Progress in bytes for one phase of an operation (a download, a conversion, hashing a file).
#ifndef LLORCH_AGENT_OPS_BYTE_PROGRESS_H_
#define LLORCH_AGENT_OPS_BYTE_PROGRESS_H_

#include <cstdint>
#include <deque>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/ops/operation.h"

namespace llorch {

// Byte progress for one phase, with the rate of the last few seconds and the time left at that
// rate (so a resumed download's kept bytes do not count as speed, and a stall shows).
class ByteProgress {
 public:
  // `total` 0 = unknown.
  ByteProgress(Operation& op, absl::string_view phase, uint64_t total, absl::string_view item,
               Operation::Clock clock = absl::Now);
  // `done` beyond an estimated total makes the total unknown rather than over 100 %.
  void Report(uint64_t done);
  // Report(done), then whether the work goes on: false once the operation is cancelled. The
  // shape of a callback that reports and stops (hashing a file).
  bool ReportAndContinue(uint64_t done);

 private:
  static constexpr absl::Duration kRateWindow = absl::Seconds(3);

  Operation& op_;
  const Operation::Clock clock_;
  pool::v1::Progress progress_;
  std::deque<std::pair<absl::Time, uint64_t>> samples_;  // (time, done), oldest first
};

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_BYTE_PROGRESS_H_
