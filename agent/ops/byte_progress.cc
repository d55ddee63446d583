#include "agent/ops/byte_progress.h"

#include <algorithm>
#include <string>

namespace llorch {
namespace v1 = pool::v1;

ByteProgress::ByteProgress(Operation& op, absl::string_view phase, uint64_t total,
                           absl::string_view item, Operation::Clock clock)
    : op_(op), clock_(std::move(clock)) {
  progress_.set_phase(std::string(phase));
  progress_.set_unit(v1::PROGRESS_UNIT_BYTES);
  progress_.set_total(total);
  progress_.set_current_item(std::string(item));
}

void ByteProgress::Report(uint64_t done) {
  const absl::Time now = clock_();
  if (progress_.total() > 0 && done > progress_.total()) progress_.set_total(0);
  progress_.set_done(done);
  progress_.clear_eta();
  samples_.emplace_back(now, done);
  while (samples_.size() > 2 && now - samples_[1].first >= kRateWindow) samples_.pop_front();
  const double seconds = absl::ToDoubleSeconds(now - samples_.front().first);
  if (seconds > 0) {
    const double rate =
        static_cast<double>(done - std::min(done, samples_.front().second)) / seconds;
    progress_.set_rate_per_second(rate);
    if (rate > 0 && progress_.total() > done) {
      progress_.mutable_eta()->set_seconds(
          static_cast<int64_t>(static_cast<double>(progress_.total() - done) / rate));
    }
  }
  op_.ReportProgress(progress_);
}

bool ByteProgress::ReportAndContinue(uint64_t done) {
  Report(done);
  return !op_.cancel_requested();
}

}  // namespace llorch
