// Forwarding a child process's output into an operation's log, for every operation that runs a
// program (the hf CLI, the converter, git).
#ifndef LLORCH_AGENT_OPS_CHILD_OUTPUT_LOG_H_
#define LLORCH_AGENT_OPS_CHILD_OUTPUT_LOG_H_

#include <utility>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/ops/operation.h"
#include "common/subprocess.h"

namespace llorch {

// Forwards a child's output lines into the operation log (stdout and stderr as such). Progress
// bar redraws (lines ended by a lone '\r') are kept to one a second: a conversion's tqdm bar would
// otherwise add ten lines a second to the history every watcher replays.
class ChildOutputLog {
 public:
  explicit ChildOutputLog(Operation& op, Operation::Clock clock = absl::Now)
      : op_(op), clock_(std::move(clock)) {}
  void operator()(const OutputLine& line);

 private:
  Operation& op_;
  const Operation::Clock clock_;
  absl::Time last_redraw_ = absl::InfinitePast();
};

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_CHILD_OUTPUT_LOG_H_
