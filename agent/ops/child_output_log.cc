#include "agent/ops/child_output_log.h"

namespace llorch {
namespace v1 = pool::v1;

void ChildOutputLog::operator()(const OutputLine& line) {
  if (line.redraw) {
    const absl::Time now = clock_();
    if (now - last_redraw_ < absl::Seconds(1)) return;
    last_redraw_ = now;
  }
  op_.Log(line.stream == OutputLine::Stream::kStdout ? v1::LogLine::STREAM_STDOUT
                                                     : v1::LogLine::STREAM_STDERR,
          line.text);
}

}  // namespace llorch
