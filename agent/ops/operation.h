// One long-running operation: its identity, state, event history, watchers and cancellation.
//
// The work that runs it reports through ReportProgress(), Log(), then exactly one of Succeed()
// or Fail(), and polls cancel_requested() often. Every report becomes an OperationEvent with the
// next sequence number (1, 2, ...); events are kept for the operation's lifetime so that a late
// watcher gets the whole history. Progress events are throttled to one per 50 ms (so that a
// terminal can redraw 10-20 times a second while bytes flow), except the first one, a change of
// phase and done == total; a throttled progress is flushed at the end of its phase and before the
// final event, so the last progress shown is exact. A progress with
// the phase, done and total of the last progress event (a stall) emits none: the work reports
// at its own pace, watchers hear only what changed (the snapshot keeps the latest rate). An event
// without payload is a state change: sequence 1 (PENDING) is emitted on creation, so every stream
// can show the id at once. The last event has final = true. Once finished, the events before the
// final one may be dropped (ForgetEventsBeforeFinal, and an operation restored from the history has
// only its final event): sequences stay what they were, with a gap. Thread-safe; the clock is
// injectable so throttling is testable without sleeping.
#ifndef LLORCH_AGENT_OPS_OPERATION_H_
#define LLORCH_AGENT_OPS_OPERATION_H_

#include <google/protobuf/message.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

class Operation {
 public:
  using Clock = std::function<absl::Time()>;
  // Hears the operation's snapshot (watchers unset) when it is created and whenever its state
  // changes or it waits for another holder; called with the operation's lock held, in order.
  using StateListener = std::function<void(const pool::v1::Operation& snapshot)>;

  // Progress events come at most this often (first, phase changes and completion excepted).
  static constexpr absl::Duration kProgressInterval = absl::Milliseconds(50);

  // Who started an operation (Operation.started_by and started_by_peer of the proto).
  struct Starter {
    std::string client;  // what the client said it is; "" when it said nothing
    std::string peer;    // the gRPC peer of the starting call
  };

  // A new operation in state PENDING, with its first event already emitted (and `on_state`
  // told).
  Operation(std::string id, std::string kind, std::string target, Clock clock = absl::Now,
            StateListener on_state = nullptr, const Starter& starter = {});

  // An operation as the history kept it: `snapshot`, with `final_event` (the only event kept)
  // when it had finished. One that had not (its agent died) comes back in the state it had, with
  // no event kept up to `last_sequence`: the caller ends it, so that watchers get a final event.
  static std::shared_ptr<Operation> Restore(const pool::v1::Operation& snapshot,
                                            const pool::v1::OperationEvent* final_event,
                                            uint64_t last_sequence, Clock clock = absl::Now);

  Operation(const Operation&) = delete;
  Operation& operator=(const Operation&) = delete;

  const std::string& id() const { return id_; }
  const std::string& kind() const { return kind_; }
  const std::string& target() const { return target_; }

  // Called once, by the call that finishes the operation, with its final state and event before
  // anyone can see them (while it runs, the operation takes no report and no cancel, and
  // finished() is still false): the registry makes them durable first. Set before the work runs.
  using FinishHook = std::function<void(const pool::v1::Operation& final_snapshot,
                                        const pool::v1::OperationEvent& final_event)>;
  void SetFinishHook(FinishHook hook);

  // --- For the work. Calls after the operation has finished are ignored. ---

  // PENDING -> RUNNING, with an event; also ends a wait (WaitFor). The other reports imply it
  // when the work skips it, except while the operation waits.
  void SetRunning();
  // -> PENDING, waiting for `holder` (Snapshot().waiting_for), with an event carrying it; called
  // again when the holder changes. It stays PENDING until SetRunning(), whatever it logs or
  // reports meanwhile.
  void WaitFor(const pool::v1::WaitingFor& holder);
  // Keeps `progress` as the latest one and emits it unless throttled (see above).
  void ReportProgress(const pool::v1::Progress& progress);
  // One line of output; a trailing newline is dropped. Never throttled.
  void Log(pool::v1::LogLine::Stream stream, absl::string_view text);
  // Finishes SUCCEEDED with `result` packed into an Any.
  void Succeed(const google::protobuf::Message& result);
  // Finishes FAILED with `status` (its hint and reason travel as an ErrorHint). When `status` is
  // CANCELLED or a cancel was requested, finishes CANCELLED with an error of code CANCELLED.
  void Fail(const absl::Status& status);
  // True once someone asked the operation to stop. Cheap; poll it often.
  bool cancel_requested() const { return cancel_requested_.load(std::memory_order_acquire); }

  // --- For everyone else. ---

  // Asks the work to stop. Returns false when the operation had already finished. `cause` says
  // why (cancel_cause.h; OK: no cause given): its message leads the CANCELLED error's message and
  // its hint, reason and metadata become the error's, so watchers learn who stopped it. The first
  // request's cause is kept.
  bool RequestCancel(absl::Status cause = absl::OkStatus());
  bool finished() const;
  // 0 while unfinished; then a number that grows in the order operations finish, process-wide.
  uint64_t finish_ticket() const;
  pool::v1::OperationState state() const;
  // The operation as a whole, with the number of watchers right now.
  pool::v1::Operation Snapshot() const;
  // When it finished; InfiniteFuture() while unfinished.
  absl::Time finished_at() const;
  // The sequence number of the latest event (at least 1).
  uint64_t last_sequence() const;
  // The kept events with a sequence greater than `after_sequence`, oldest first.
  std::vector<pool::v1::OperationEvent> EventsAfter(uint64_t after_sequence) const;
  // Once finished, keeps only the final event (a finished operation's history that nobody is
  // likely to replay in full costs no memory). No-op before.
  void ForgetEventsBeforeFinal();

  enum class WaitResult {
    kEvent,    // *out holds the first kept event with a sequence above after_sequence
    kTimeout,  // nothing new within `timeout`
    kEnded,    // the operation has finished and no event follows after_sequence
  };
  // Blocks until an event after `after_sequence` exists, the operation has ended without one,
  // or `timeout` has passed.
  WaitResult WaitForEvent(uint64_t after_sequence, absl::Duration timeout,
                          pool::v1::OperationEvent* out) const;

  // Watchers (streams following the operation) register for Snapshot().watchers.
  void AddWatcher();
  void RemoveWatcher();

 private:
  uint64_t LastSequenceLocked() const;
  // The index in events_ of the first kept event with a sequence above `after_sequence`.
  size_t FirstIndexAfterLocked(uint64_t after_sequence) const;
  bool FinishedLocked() const;
  // Finished, or finishing: taking no more reports.
  bool ClosedLocked() const;
  // PENDING -> RUNNING, unless the operation waits (or `end_wait`: ends the wait too).
  void MarkRunningLocked(absl::Time now, bool end_wait = false);
  // The event that would come next, without payload.
  pool::v1::OperationEvent NextEventLocked(absl::Time now) const;
  pool::v1::OperationEvent& EmitLocked(absl::Time now);
  void EmitProgressLocked(const pool::v1::Progress& progress, absl::Time now);
  void FlushProgressLocked(absl::Time now);
  // Ends the operation in `state` with `final_event`, which holds its result or error; runs the
  // finish hook first, with `lock` released.
  void FinishLocked(std::unique_lock<std::mutex>& lock, pool::v1::OperationState state,
                    pool::v1::OperationEvent final_event, absl::Time now);
  // Tells on_state_ about the snapshot if its state changed since it last did, or `always`.
  void AnnounceLocked(bool always = false);

  const std::string id_;
  const std::string kind_;
  const std::string target_;
  const Clock clock_;
  const StateListener on_state_;
  std::atomic<bool> cancel_requested_{false};

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;  // notified on every event
  // Everything below is guarded by mu_.
  pool::v1::Operation snapshot_;                  // without watchers
  std::vector<pool::v1::OperationEvent> events_;  // events_[i] has sequence dropped_ + i + 1
  uint64_t dropped_ = 0;                          // events no longer kept, all before events_
  absl::Status cancel_cause_;                     // OK: none given
  uint32_t watchers_ = 0;
  pool::v1::OperationState announced_state_ = pool::v1::OPERATION_STATE_UNSPECIFIED;
  uint64_t finish_ticket_ = 0;
  FinishHook finish_hook_;
  bool finishing_ = false;         // the finish hook runs
  bool progress_emitted_ = false;  // some progress event exists
  bool progress_pending_ = false;  // snapshot_.progress() is newer than the last progress event
  pool::v1::Progress last_emitted_progress_;
  absl::Time last_progress_event_time_ = absl::InfinitePast();
};

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_OPERATION_H_
