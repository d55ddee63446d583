#include "agent/ops/operation.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/rpc/grpc_status.h"
#include "common/strings.h"

namespace llorch {
namespace v1 = pool::v1;

namespace {

void SetTimestamp(absl::Time time, google::protobuf::Timestamp* out) {
  const int64_t seconds = absl::ToUnixSeconds(time);
  out->set_seconds(seconds);
  out->set_nanos(
      static_cast<int32_t>((time - absl::FromUnixSeconds(seconds)) / absl::Nanoseconds(1)));
}

std::atomic<uint64_t> finish_tickets{0};

bool SameAmount(const v1::Progress& a, const v1::Progress& b) {
  return a.phase() == b.phase() && a.done() == b.done() && a.total() == b.total();
}

}  // namespace

Operation::Operation(std::string id, std::string kind, std::string target, Clock clock,
                     StateListener on_state, const Starter& starter)
    : id_(std::move(id)),
      kind_(std::move(kind)),
      target_(std::move(target)),
      clock_(std::move(clock)),
      on_state_(std::move(on_state)) {
  const absl::Time now = clock_();
  snapshot_.set_id(id_);
  snapshot_.set_kind(kind_);
  snapshot_.set_target(target_);
  snapshot_.set_state(v1::OPERATION_STATE_PENDING);
  snapshot_.set_started_by(starter.client);
  snapshot_.set_started_by_peer(starter.peer);
  SetTimestamp(now, snapshot_.mutable_created_at());
  std::lock_guard<std::mutex> lock(mu_);
  EmitLocked(now);
  AnnounceLocked();
}

std::shared_ptr<Operation> Operation::Restore(const v1::Operation& snapshot,
                                              const v1::OperationEvent* final_event,
                                              uint64_t last_sequence, Clock clock) {
  auto operation =
      std::make_shared<Operation>(snapshot.id(), snapshot.kind(), snapshot.target(), clock);
  std::lock_guard<std::mutex> lock(operation->mu_);
  operation->snapshot_ = snapshot;
  operation->snapshot_.clear_watchers();
  operation->events_.clear();
  if (final_event != nullptr) {
    operation->events_.push_back(*final_event);
    operation->dropped_ = final_event->sequence() - 1;
    operation->finish_ticket_ = ++finish_tickets;
  } else {
    operation->dropped_ = last_sequence;
  }
  return operation;
}

void Operation::SetFinishHook(FinishHook hook) {
  std::lock_guard<std::mutex> lock(mu_);
  finish_hook_ = std::move(hook);
}

void Operation::SetRunning() {
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  if (ClosedLocked() || snapshot_.state() != v1::OPERATION_STATE_PENDING) return;
  MarkRunningLocked(now, /*end_wait=*/true);
  EmitLocked(now);
  AnnounceLocked();
}

void Operation::WaitFor(const v1::WaitingFor& holder) {
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  if (ClosedLocked()) return;
  FlushProgressLocked(now);
  snapshot_.set_state(v1::OPERATION_STATE_PENDING);
  *snapshot_.mutable_waiting_for() = holder;
  *EmitLocked(now).mutable_waiting_for() = holder;
  AnnounceLocked(/*always=*/true);
}

void Operation::ReportProgress(const v1::Progress& progress) {
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  if (ClosedLocked()) return;
  MarkRunningLocked(now);
  AnnounceLocked();
  const bool first = !progress_emitted_;
  const bool new_phase = !first && progress.phase() != last_emitted_progress_.phase();
  // The same amount again (a stall) says nothing new: no event, and none pending.
  const bool news = first || !SameAmount(progress, last_emitted_progress_);
  const bool complete = progress.total() > 0 && progress.done() == progress.total() && news;
  const bool due = now - last_progress_event_time_ >= kProgressInterval;
  // The end of the old phase is worth an event of its own.
  if (new_phase) FlushProgressLocked(now);
  *snapshot_.mutable_progress() = progress;
  if (!news) {
    progress_pending_ = false;
  } else if (first || new_phase || complete || due) {
    EmitProgressLocked(progress, now);
  } else {
    progress_pending_ = true;
  }
}

void Operation::Log(v1::LogLine::Stream stream, absl::string_view text) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
  const absl::Time now = clock_();
  std::lock_guard<std::mutex> lock(mu_);
  if (ClosedLocked()) return;
  MarkRunningLocked(now);
  AnnounceLocked();
  v1::OperationEvent& event = EmitLocked(now);
  v1::LogLine* line = event.mutable_log();
  SetTimestamp(now, line->mutable_time());
  line->set_stream(stream);
  line->set_text(ToValidUtf8(text));  // child output can be any bytes; proto3 wants UTF-8
}

void Operation::Succeed(const google::protobuf::Message& result) {
  const absl::Time now = clock_();
  std::unique_lock<std::mutex> lock(mu_);
  if (ClosedLocked()) return;
  v1::OperationEvent final_event;
  final_event.mutable_result()->PackFrom(result);
  FinishLocked(lock, v1::OPERATION_STATE_SUCCEEDED, std::move(final_event), now);
}

void Operation::Fail(const absl::Status& status) {
  const absl::Time now = clock_();
  std::unique_lock<std::mutex> lock(mu_);
  if (ClosedLocked()) return;
  v1::OperationEvent final_event;  // its error
  v1::OperationState state = v1::OPERATION_STATE_FAILED;
  if (status.code() == absl::StatusCode::kCancelled || cancel_requested()) {
    // Whatever stopped the work, it stopped because it was asked to (or gave up by itself).
    state = v1::OPERATION_STATE_CANCELLED;
    const std::string what = status.code() == absl::StatusCode::kCancelled
                                 ? std::string(status.message())
                                 : absl::StrCat(kind_, " cancelled");
    *final_event.mutable_error() =
        cancel_cause_.ok()
            ? ToRpcStatus(absl::StatusCode::kCancelled, what, status)
            : ToRpcStatus(absl::StatusCode::kCancelled,
                          absl::StrCat(cancel_cause_.message(), ": ", what), cancel_cause_);
  } else if (status.ok()) {
    *final_event.mutable_error() = ToRpcStatus(
        absl::StatusCode::kInternal, absl::StrCat(kind_, " failed without an error"), status);
  } else {
    *final_event.mutable_error() = ToRpcStatus(status.code(), status.message(), status);
  }
  FinishLocked(lock, state, std::move(final_event), now);
}

bool Operation::RequestCancel(absl::Status cause) {
  std::lock_guard<std::mutex> lock(mu_);
  if (ClosedLocked()) return false;
  if (!cancel_requested()) cancel_cause_ = std::move(cause);
  cancel_requested_.store(true, std::memory_order_release);
  return true;
}

bool Operation::finished() const {
  std::lock_guard<std::mutex> lock(mu_);
  return FinishedLocked();
}

uint64_t Operation::finish_ticket() const {
  std::lock_guard<std::mutex> lock(mu_);
  return finish_ticket_;
}

v1::OperationState Operation::state() const {
  std::lock_guard<std::mutex> lock(mu_);
  return snapshot_.state();
}

v1::Operation Operation::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  v1::Operation snapshot = snapshot_;
  snapshot.set_watchers(watchers_);
  return snapshot;
}

absl::Time Operation::finished_at() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!FinishedLocked()) return absl::InfiniteFuture();
  return absl::FromUnixSeconds(snapshot_.finished_at().seconds()) +
         absl::Nanoseconds(snapshot_.finished_at().nanos());
}

uint64_t Operation::last_sequence() const {
  std::lock_guard<std::mutex> lock(mu_);
  return LastSequenceLocked();
}

std::vector<v1::OperationEvent> Operation::EventsAfter(uint64_t after_sequence) const {
  std::lock_guard<std::mutex> lock(mu_);
  const size_t first = FirstIndexAfterLocked(after_sequence);
  return std::vector<v1::OperationEvent>(events_.begin() + static_cast<ptrdiff_t>(first),
                                         events_.end());
}

void Operation::ForgetEventsBeforeFinal() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!FinishedLocked() || events_.size() <= 1) return;
  dropped_ += events_.size() - 1;
  events_.erase(events_.begin(), events_.end() - 1);
}

Operation::WaitResult Operation::WaitForEvent(uint64_t after_sequence, absl::Duration timeout,
                                              v1::OperationEvent* out) const {
  std::unique_lock<std::mutex> lock(mu_);
  const auto ready = [&] { return LastSequenceLocked() > after_sequence || FinishedLocked(); };
  if (!changed_.wait_for(lock, absl::ToChronoNanoseconds(timeout), ready)) {
    return WaitResult::kTimeout;
  }
  const size_t first = FirstIndexAfterLocked(after_sequence);
  if (first >= events_.size()) return WaitResult::kEnded;
  *out = events_[first];
  return WaitResult::kEvent;
}

void Operation::AddWatcher() {
  std::lock_guard<std::mutex> lock(mu_);
  ++watchers_;
}

void Operation::RemoveWatcher() {
  std::lock_guard<std::mutex> lock(mu_);
  if (watchers_ > 0) --watchers_;
}

uint64_t Operation::LastSequenceLocked() const { return dropped_ + events_.size(); }

size_t Operation::FirstIndexAfterLocked(uint64_t after_sequence) const {
  if (after_sequence <= dropped_) return 0;
  return static_cast<size_t>(std::min<uint64_t>(after_sequence - dropped_, events_.size()));
}

bool Operation::FinishedLocked() const {
  switch (snapshot_.state()) {
    case v1::OPERATION_STATE_SUCCEEDED:
    case v1::OPERATION_STATE_FAILED:
    case v1::OPERATION_STATE_CANCELLED:
      return true;
    default:
      return false;
  }
}

bool Operation::ClosedLocked() const { return FinishedLocked() || finishing_; }

void Operation::MarkRunningLocked(absl::Time now, bool end_wait) {
  if (snapshot_.state() != v1::OPERATION_STATE_PENDING) return;
  if (snapshot_.has_waiting_for() && !end_wait) return;
  snapshot_.clear_waiting_for();
  snapshot_.set_state(v1::OPERATION_STATE_RUNNING);
  if (!snapshot_.has_started_at()) SetTimestamp(now, snapshot_.mutable_started_at());
}

v1::OperationEvent Operation::NextEventLocked(absl::Time now) const {
  v1::OperationEvent event;
  event.set_operation_id(id_);
  event.set_sequence(LastSequenceLocked() + 1);
  SetTimestamp(now, event.mutable_time());
  event.set_state(snapshot_.state());
  return event;
}

v1::OperationEvent& Operation::EmitLocked(absl::Time now) {
  v1::OperationEvent& event = events_.emplace_back(NextEventLocked(now));
  // Watchers wake up after the caller has filled the payload and released mu_.
  changed_.notify_all();
  return event;
}

void Operation::EmitProgressLocked(const v1::Progress& progress, absl::Time now) {
  *EmitLocked(now).mutable_progress() = progress;
  last_emitted_progress_ = progress;
  last_progress_event_time_ = now;
  progress_emitted_ = true;
  progress_pending_ = false;
}

void Operation::FlushProgressLocked(absl::Time now) {
  if (progress_pending_) EmitProgressLocked(snapshot_.progress(), now);
}

void Operation::FinishLocked(std::unique_lock<std::mutex>& lock, v1::OperationState state,
                             v1::OperationEvent final_event, absl::Time now) {
  FlushProgressLocked(now);
  MarkRunningLocked(now, /*end_wait=*/true);
  v1::Operation final_snapshot = snapshot_;
  final_snapshot.set_state(state);
  SetTimestamp(now, final_snapshot.mutable_finished_at());
  if (final_event.has_result()) *final_snapshot.mutable_result() = final_event.result();
  if (final_event.has_error()) *final_snapshot.mutable_error() = final_event.error();
  final_event.MergeFrom(NextEventLocked(now));
  final_event.set_state(state);
  final_event.set_final(true);
  if (finish_hook_) {
    // Nothing else happens to the operation meanwhile: reports and cancels are refused.
    finishing_ = true;
    const FinishHook hook = std::move(finish_hook_);
    lock.unlock();
    hook(final_snapshot, final_event);
    lock.lock();
    finishing_ = false;
  }
  snapshot_ = std::move(final_snapshot);
  events_.push_back(std::move(final_event));
  finish_ticket_ = ++finish_tickets;
  changed_.notify_all();
  AnnounceLocked();
}

void Operation::AnnounceLocked(bool always) {
  if (!on_state_ || (!always && snapshot_.state() == announced_state_)) return;
  announced_state_ = snapshot_.state();
  on_state_(snapshot_);
}

}  // namespace llorch
