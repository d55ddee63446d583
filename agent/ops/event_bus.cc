#include "agent/ops/event_bus.h"

#include <google/protobuf/util/time_util.h>

#include <utility>

namespace llorch {
namespace v1 = pool::v1;
using google::protobuf::util::TimeUtil;

EventBus::EventBus(std::string instance_id) : EventBus(std::move(instance_id), Options()) {}

EventBus::EventBus(std::string instance_id, Options options)
    : instance_id_(std::move(instance_id)), options_(std::move(options)) {}

uint64_t EventBus::Publish(v1::AgentEvent event) {
  const absl::Time now = options_.clock();
  uint64_t sequence = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sequence = first_ + events_.size();
    event.set_sequence(sequence);
    *event.mutable_time() = TimeUtil::NanosecondsToTimestamp(absl::ToUnixNanos(now));
    event.set_agent_instance_id(instance_id_);
    if (options_.observer) {
      events_.push_back(event);
    } else {
      events_.push_back(std::move(event));
    }
    while (events_.size() > options_.capacity) {
      events_.pop_front();
      ++first_;
    }
    published_.notify_all();
  }
  if (options_.observer) options_.observer(event);
  return sequence;
}

uint64_t EventBus::last_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_ + events_.size() - 1;
}

uint64_t EventBus::first_kept_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return first_;
}

EventBus::ReadResult EventBus::WaitForEvent(uint64_t after_sequence, absl::Duration timeout,
                                            v1::AgentEvent* out) const {
  std::unique_lock<std::mutex> lock(mu_);
  const auto published = [&] { return first_ + events_.size() > after_sequence + 1; };
  if (!published_.wait_for(lock, absl::ToChronoNanoseconds(timeout), published)) {
    return ReadResult::kTimeout;
  }
  if (after_sequence + 1 < first_) return ReadResult::kExpired;
  *out = events_[after_sequence + 1 - first_];
  return ReadResult::kEvent;
}

}  // namespace llorch
