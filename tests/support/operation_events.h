// Reading what an operation reported, for tests of work that runs directly on an Operation:
// its log lines and progress, and waiting (on another thread) for a progress report.
#ifndef LLORCH_TESTS_SUPPORT_OPERATION_EVENTS_H_
#define LLORCH_TESTS_SUPPORT_OPERATION_EVENTS_H_

#include <functional>
#include <string>
#include <vector>

#include "agent/ops/operation.h"

namespace llorch::testing {

// The texts of the log lines `op` has reported from `stream`, in order.
std::vector<std::string> LogTexts(const Operation& op, pool::v1::LogLine::Stream stream);

// Every progress report of `op` in phase `phase`, in order.
std::vector<pool::v1::Progress> ProgressOf(const Operation& op, const std::string& phase);

// Blocks until `op` reports a progress for which `matches` holds (true), or it finishes or
// 30 seconds pass without one (false).
bool WaitForProgress(const Operation& op,
                     const std::function<bool(const pool::v1::Progress&)>& matches);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_OPERATION_EVENTS_H_
