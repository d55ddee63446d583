#include "tests/support/operation_events.h"

namespace llorch::testing {
namespace v1 = pool::v1;

std::vector<std::string> LogTexts(const Operation& op, v1::LogLine::Stream stream) {
  std::vector<std::string> texts;
  for (const v1::OperationEvent& event : op.EventsAfter(0)) {
    if (event.has_log() && event.log().stream() == stream) texts.push_back(event.log().text());
  }
  return texts;
}

std::vector<v1::Progress> ProgressOf(const Operation& op, const std::string& phase) {
  std::vector<v1::Progress> reports;
  for (const v1::OperationEvent& event : op.EventsAfter(0)) {
    if (event.has_progress() && event.progress().phase() == phase) {
      reports.push_back(event.progress());
    }
  }
  return reports;
}

bool WaitForProgress(const Operation& op, const std::function<bool(const v1::Progress&)>& matches) {
  uint64_t after = 0;
  v1::OperationEvent event;
  while (op.WaitForEvent(after, absl::Seconds(30), &event) == Operation::WaitResult::kEvent) {
    after = event.sequence();
    if (event.has_progress() && matches(event.progress())) return true;
  }
  return false;
}

}  // namespace llorch::testing
