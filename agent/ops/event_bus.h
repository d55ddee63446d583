// The agent's events (AgentService.WatchEvents): what happened to operations, models and, later,
// workers, as one sequence an orchestrator follows instead of polling every service.
//
// Publish() takes an AgentEvent whose payload the publisher filled (the operation registry: an
// operation created or changing state; the model service: a model installed, removed or found
// unverified), stamps it with the next sequence number (1, 2, ...), the time and the agent's
// instance id, and keeps the last `capacity` events. Publishing never waits for a reader: each
// reader reads by sequence from the kept events, at its own pace, and one that falls behind by
// more than the buffer (a slow watcher, or a client resuming from an old sequence) is told that
// the events it needs are gone (kExpired), so it can list the state again. Adding a kind of event
// is adding a payload to AgentEvent and a Publish() where it happens. Thread-safe.
#ifndef LLORCH_AGENT_OPS_EVENT_BUS_H_
#define LLORCH_AGENT_OPS_EVENT_BUS_H_

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "llorch/pool/v1/agent.pb.h"

namespace llorch {

class EventBus {
 public:
  struct Options {
    size_t capacity = 10000;  // events kept for readers that resume or lag
    std::function<absl::Time()> clock = absl::Now;
    // Called with every event once it is stamped, outside the bus's lock, on the publishing
    // thread (the agent's log writes a line per event); it must not publish.
    std::function<void(const pool::v1::AgentEvent&)> observer;
  };

  explicit EventBus(std::string instance_id);
  EventBus(std::string instance_id, Options options);
  EventBus(const EventBus&) = delete;
  EventBus& operator=(const EventBus&) = delete;

  // This run of the agent (AgentEvent.agent_instance_id).
  const std::string& instance_id() const { return instance_id_; }

  // Stamps `event` (sequence, time, instance id) and keeps it; returns its sequence.
  uint64_t Publish(pool::v1::AgentEvent event);

  // The sequence of the latest event; 0 before the first.
  uint64_t last_sequence() const;
  // The sequence of the oldest event kept; last_sequence() + 1 when none is kept.
  uint64_t first_kept_sequence() const;

  enum class ReadResult {
    kEvent,    // *out holds the event with sequence after_sequence + 1
    kTimeout,  // nothing new within `timeout`
    kExpired,  // the event after after_sequence is no longer kept
  };
  // The event after `after_sequence`, waiting up to `timeout` for it to be published.
  ReadResult WaitForEvent(uint64_t after_sequence, absl::Duration timeout,
                          pool::v1::AgentEvent* out) const;

 private:
  const std::string instance_id_;
  const Options options_;
  mutable std::mutex mu_;
  mutable std::condition_variable published_;
  // Guarded by mu_: the kept events, oldest first; events_[i] has sequence first_ + i.
  std::deque<pool::v1::AgentEvent> events_;
  uint64_t first_ = 1;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_EVENT_BUS_H_
