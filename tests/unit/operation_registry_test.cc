// Operations and the registry: ids, contiguous event sequences, progress throttling (on a fake
// clock), watchers, cancellation, join keys, the bounded history and work that forgets to finish.
#include "agent/ops/operation_registry.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "agent/ops/cancel_cause.h"
#include "agent/ops/operation.h"
#include "common/status.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// Time stands still unless the test moves it.
class FakeClock {
 public:
  Operation::Clock AsClock() {
    return [this] { return absl::FromUnixNanos(nanos_.load()); };
  }
  void Advance(absl::Duration by) { nanos_ += absl::ToInt64Nanoseconds(by); }

 private:
  std::atomic<int64_t> nanos_{absl::ToUnixNanos(absl::FromUnixSeconds(1700000000))};
};

// Holds work back until the test opens it; gives up when the operation is cancelled, so that a
// failing test cannot hang the registry's destructor.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    opened_.notify_all();
  }
  // True when opened, false when the operation was cancelled first.
  bool Wait(const Operation& op) {
    std::unique_lock<std::mutex> lock(mu_);
    while (!open_) {
      if (op.cancel_requested()) return false;
      opened_.wait_for(lock, std::chrono::milliseconds(5));
    }
    return true;
  }

 private:
  std::mutex mu_;
  std::condition_variable opened_;
  bool open_ = false;
};

// Follows `op` like a stream does, from after `after` to the final event.
std::vector<v1::OperationEvent> Watch(const Operation& op, uint64_t after = 0) {
  std::vector<v1::OperationEvent> events;
  v1::OperationEvent event;
  while (true) {
    switch (op.WaitForEvent(after, absl::Seconds(30), &event)) {
      case Operation::WaitResult::kTimeout:
        ADD_FAILURE() << "no event after " << after << " within 30 s";
        return events;
      case Operation::WaitResult::kEnded:
        return events;
      case Operation::WaitResult::kEvent:
        events.push_back(event);
        after = event.sequence();
        if (event.final()) return events;
    }
  }
}

std::vector<v1::OperationEvent> ProgressEvents(const std::vector<v1::OperationEvent>& events) {
  std::vector<v1::OperationEvent> progress;
  for (const v1::OperationEvent& event : events) {
    if (event.has_progress()) progress.push_back(event);
  }
  return progress;
}

std::vector<uint64_t> Sequences(const std::vector<v1::OperationEvent>& events) {
  std::vector<uint64_t> sequences;
  for (const v1::OperationEvent& event : events) sequences.push_back(event.sequence());
  return sequences;
}

v1::Progress MakeProgress(const std::string& phase, uint64_t done, uint64_t total) {
  v1::Progress progress;
  progress.set_phase(phase);
  progress.set_done(done);
  progress.set_total(total);
  progress.set_unit(v1::PROGRESS_UNIT_BYTES);
  return progress;
}

google::protobuf::StringValue Text(const std::string& value) {
  google::protobuf::StringValue text;
  text.set_value(value);
  return text;
}

v1::ErrorHint HintOf(const v1::RpcStatus& status) {
  v1::ErrorHint hint;
  EXPECT_EQ(status.details_size(), 1);
  if (status.details_size() == 1) {
    EXPECT_TRUE(status.details(0).UnpackTo(&hint));
  }
  return hint;
}

// ---------------------------------------------------------------------------------------------
// Operation

TEST(OperationTest, LogLinesAreMadeValidUtf8) {
  FakeClock clock;
  Operation op("op-1", "model.convert", "gpt2", clock.AsClock());
  op.Log(v1::LogLine::STREAM_STDERR, "caf\xc3\xa9 \xff\xfe latin-1\n");
  const std::vector<v1::OperationEvent> events = op.EventsAfter(0);
  ASSERT_TRUE(events.back().has_log());
  EXPECT_EQ(events.back().log().text(), "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd latin-1");
  std::string wire;
  EXPECT_TRUE(events.back().SerializeToString(&wire));
}

TEST(OperationTest, StartsPendingWithAFirstEventCarryingTheId) {
  FakeClock clock;
  Operation op("op-0000abcd", "model.verify", "qwen", clock.AsClock());
  const v1::Operation snapshot = op.Snapshot();
  EXPECT_EQ(snapshot.id(), "op-0000abcd");
  EXPECT_EQ(snapshot.kind(), "model.verify");
  EXPECT_EQ(snapshot.target(), "qwen");
  EXPECT_EQ(snapshot.state(), v1::OPERATION_STATE_PENDING);
  EXPECT_EQ(snapshot.created_at().seconds(), 1700000000);
  EXPECT_FALSE(snapshot.has_started_at());
  EXPECT_FALSE(snapshot.has_finished_at());

  const std::vector<v1::OperationEvent> events = op.EventsAfter(0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].operation_id(), "op-0000abcd");
  EXPECT_EQ(events[0].sequence(), 1u);
  EXPECT_EQ(events[0].state(), v1::OPERATION_STATE_PENDING);
  EXPECT_EQ(events[0].payload_case(), v1::OperationEvent::PAYLOAD_NOT_SET);
  EXPECT_FALSE(events[0].final());
}

TEST(OperationTest, SequenceNumbersAreContiguousFromOneAndOnlyTheLastIsFinal) {
  FakeClock clock;
  Operation op("op-1", "model.verify", "qwen", clock.AsClock());
  op.SetRunning();
  op.Log(v1::LogLine::STREAM_AGENT, "hashing qwen\n");
  for (uint64_t done = 0; done <= 10; ++done) {
    clock.Advance(absl::Milliseconds(150));
    op.ReportProgress(MakeProgress("hash", done * 100, 1000));
  }
  op.Log(v1::LogLine::STREAM_STDERR, "converter says hi\r\n");
  op.Succeed(Text("ok"));

  const std::vector<v1::OperationEvent> events = op.EventsAfter(0);
  ASSERT_EQ(events.size(), 16u);  // pending, running, log, 11 progress, log, final
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), i + 1);
    EXPECT_EQ(events[i].operation_id(), "op-1");
    EXPECT_EQ(events[i].final(), i + 1 == events.size());
  }
  EXPECT_EQ(events[1].state(), v1::OPERATION_STATE_RUNNING);
  EXPECT_EQ(events[2].log().text(), "hashing qwen");
  EXPECT_EQ(events[2].log().stream(), v1::LogLine::STREAM_AGENT);
  EXPECT_EQ(events[14].log().text(), "converter says hi");
  EXPECT_EQ(events[14].log().stream(), v1::LogLine::STREAM_STDERR);

  const v1::OperationEvent& last = events.back();
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED);
  google::protobuf::StringValue result;
  ASSERT_TRUE(last.result().UnpackTo(&result));
  EXPECT_EQ(result.value(), "ok");

  const v1::Operation snapshot = op.Snapshot();
  EXPECT_EQ(snapshot.state(), v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_TRUE(MessageDifferencer::Equals(snapshot.result(), last.result()));
  EXPECT_EQ(snapshot.progress().done(), 1000u);
  EXPECT_TRUE(snapshot.has_started_at());
  EXPECT_TRUE(snapshot.has_finished_at());
  EXPECT_FALSE(snapshot.has_error());
}

TEST(OperationTest, ManyReportsWithinTheIntervalGiveOneEventAndKeepTheLatest) {
  FakeClock clock;
  Operation op("op-1", "model.verify", "", clock.AsClock());
  static_assert(Operation::kProgressInterval == absl::Milliseconds(50));
  for (uint64_t done = 1; done <= 49; ++done) {
    op.ReportProgress(MakeProgress("hash", done, 1000));
    clock.Advance(absl::Milliseconds(1));
  }
  std::vector<v1::OperationEvent> progress = ProgressEvents(op.EventsAfter(0));
  ASSERT_EQ(progress.size(), 1u);
  EXPECT_EQ(progress[0].progress().done(), 1u);
  EXPECT_EQ(op.Snapshot().progress().done(), 49u);     // the snapshot always has the latest
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_RUNNING);  // progress implies running

  clock.Advance(absl::Milliseconds(1));  // now exactly 50 ms after the first event
  op.ReportProgress(MakeProgress("hash", 50, 1000));
  progress = ProgressEvents(op.EventsAfter(0));
  ASSERT_EQ(progress.size(), 2u);
  EXPECT_EQ(progress[1].progress().done(), 50u);

  // The interval counts from the last event, not from the first.
  clock.Advance(absl::Milliseconds(49));
  op.ReportProgress(MakeProgress("hash", 51, 1000));
  EXPECT_EQ(ProgressEvents(op.EventsAfter(0)).size(), 2u);
}

TEST(OperationTest, PhaseChangeAlwaysEmitsAfterFlushingTheOldPhase) {
  FakeClock clock;
  Operation op("op-1", "model.download", "", clock.AsClock());
  op.ReportProgress(MakeProgress("download", 10, 1000));
  clock.Advance(absl::Milliseconds(10));
  op.ReportProgress(MakeProgress("download", 20, 1000));  // throttled
  clock.Advance(absl::Milliseconds(10));
  op.ReportProgress(MakeProgress("hash", 5, 1000));  // new phase, 20 ms later
  clock.Advance(absl::Milliseconds(10));
  op.ReportProgress(MakeProgress("verify", 0, 0));  // new phase again, nothing to flush

  const std::vector<v1::OperationEvent> progress = ProgressEvents(op.EventsAfter(0));
  ASSERT_EQ(progress.size(), 4u);
  EXPECT_EQ(progress[0].progress().phase(), "download");
  EXPECT_EQ(progress[0].progress().done(), 10u);
  EXPECT_EQ(progress[1].progress().phase(), "download");  // the end of the old phase
  EXPECT_EQ(progress[1].progress().done(), 20u);
  EXPECT_EQ(progress[2].progress().phase(), "hash");
  EXPECT_EQ(progress[2].progress().done(), 5u);
  EXPECT_EQ(progress[3].progress().phase(), "verify");
}

TEST(OperationTest, DoneEqualsTotalAlwaysEmitsOnce) {
  FakeClock clock;
  Operation op("op-1", "model.verify", "", clock.AsClock());
  op.ReportProgress(MakeProgress("hash", 1, 1000));
  clock.Advance(absl::Milliseconds(1));
  op.ReportProgress(MakeProgress("hash", 1000, 1000));
  clock.Advance(absl::Milliseconds(1));
  op.ReportProgress(MakeProgress("hash", 1000, 1000));  // the same again: nothing new to say
  clock.Advance(absl::Milliseconds(1));
  op.ReportProgress(MakeProgress("hash", 0, 0));  // unknown total is not "complete"
  clock.Advance(absl::Milliseconds(1));
  op.ReportProgress(MakeProgress("hash", 0, 0));

  const std::vector<v1::OperationEvent> progress = ProgressEvents(op.EventsAfter(0));
  ASSERT_EQ(progress.size(), 2u);
  EXPECT_EQ(progress[1].progress().done(), 1000u);
  EXPECT_EQ(progress[1].progress().total(), 1000u);
}

// A stalled download keeps reporting the same count: watchers get no event until it moves.
TEST(OperationTest, AProgressThatSaysNothingNewEmitsNoEvent) {
  FakeClock clock;
  Operation op("op-1", "model.download", "", clock.AsClock());
  op.ReportProgress(MakeProgress("download", 10, 1000));
  clock.Advance(absl::Milliseconds(10));
  op.ReportProgress(MakeProgress("download", 20, 1000));  // throttled
  for (int i = 0; i < 10; ++i) {
    clock.Advance(Operation::kProgressInterval);
    op.ReportProgress(MakeProgress("download", 20, 1000));
  }
  std::vector<v1::OperationEvent> progress = ProgressEvents(op.EventsAfter(0));
  ASSERT_EQ(progress.size(), 2u);  // 10, then the throttled 20 once it was due
  EXPECT_EQ(progress[1].progress().done(), 20u);

  clock.Advance(Operation::kProgressInterval);
  op.ReportProgress(MakeProgress("download", 21, 1000));  // moving again
  op.Fail(absl::CancelledError("download cancelled"));    // nothing throttled to flush
  progress = ProgressEvents(op.EventsAfter(0));
  ASSERT_EQ(progress.size(), 3u);
  EXPECT_EQ(progress[2].progress().done(), 21u);
}

TEST(OperationTest, FinishingFlushesThrottledProgress) {
  FakeClock clock;
  Operation op("op-1", "model.verify", "", clock.AsClock());
  op.ReportProgress(MakeProgress("hash", 1, 1000));
  clock.Advance(absl::Milliseconds(1));
  op.ReportProgress(MakeProgress("hash", 400, 1000));  // throttled
  op.Fail(absl::DataLossError("short read"));

  const std::vector<v1::OperationEvent> events = op.EventsAfter(0);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[2].progress().done(), 400u);
  EXPECT_TRUE(events[3].final());
}

TEST(OperationTest, FailCarriesCodeMessageHintAndReason) {
  FakeClock clock;
  Operation op("op-1", "model.download", "qwen", clock.AsClock());
  op.Fail(WithReason(WithHint(absl::ResourceExhaustedError("disk full"), "free some space"),
                     "DISK_FULL"));
  const std::vector<v1::OperationEvent> events = op.EventsAfter(0);
  ASSERT_EQ(events.size(), 2u);
  const v1::OperationEvent& last = events[1];
  EXPECT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(last.error().code(), static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(last.error().message(), "disk full");
  const v1::ErrorHint hint = HintOf(last.error());
  EXPECT_EQ(hint.hint(), "free some space");
  EXPECT_EQ(hint.reason(), "DISK_FULL");
  EXPECT_TRUE(MessageDifferencer::Equals(op.Snapshot().error(), last.error()));
  EXPECT_FALSE(op.Snapshot().has_result());
}

TEST(OperationTest, ReportsAfterTheEndAreIgnored) {
  FakeClock clock;
  Operation op("op-1", "git.pull", "", clock.AsClock());
  op.Succeed(Text("first"));
  op.Fail(absl::InternalError("late"));
  op.Succeed(Text("second"));
  op.Log(v1::LogLine::STREAM_AGENT, "late");
  op.ReportProgress(MakeProgress("fetch", 1, 2));
  op.SetRunning();
  EXPECT_FALSE(op.RequestCancel());
  EXPECT_FALSE(op.cancel_requested());
  EXPECT_EQ(op.EventsAfter(0).size(), 2u);
  EXPECT_EQ(op.state(), v1::OPERATION_STATE_SUCCEEDED);
}

TEST(OperationTest, CancelledStatusOrRequestedCancelEndsCancelled) {
  FakeClock clock;
  Operation stopped("op-1", "model.verify", "", clock.AsClock());
  stopped.Fail(absl::CancelledError("hashing cancelled at byte 42"));
  EXPECT_EQ(stopped.state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_EQ(stopped.Snapshot().error().message(), "hashing cancelled at byte 42");

  Operation asked("op-2", "model.verify", "", clock.AsClock());
  EXPECT_TRUE(asked.RequestCancel());
  EXPECT_TRUE(asked.cancel_requested());
  asked.Fail(absl::AbortedError("interrupted read"));
  const v1::OperationEvent last = asked.EventsAfter(0).back();
  EXPECT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_EQ(last.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_THAT(last.error().message(), HasSubstr("model.verify cancelled"));
}

// Who asked leads the error, and its reason and facts are the error's: an orchestrator branches
// on them. The first request's cause is the one kept.
TEST(OperationTest, TheCauseOfACancelIsInItsError) {
  FakeClock clock;
  Operation op("op-1", "model.verify", "", clock.AsClock());
  EXPECT_TRUE(op.RequestCancel(
      CancelledByClient("ipv4:10.0.0.5:51234", "Ctrl-C in `llorch-pool models verify`")));
  EXPECT_TRUE(op.RequestCancel(AgentShuttingDown("SIGTERM")));
  op.Fail(absl::CancelledError("hashing cancelled at byte 42"));
  const v1::RpcStatus error = op.Snapshot().error();
  EXPECT_EQ(error.code(), static_cast<int>(absl::StatusCode::kCancelled));
  EXPECT_EQ(error.message(),
            "cancelled by Ctrl-C in `llorch-pool models verify` (peer ipv4:10.0.0.5:51234): "
            "hashing cancelled at byte 42");
  const v1::ErrorHint hint = HintOf(error);
  EXPECT_EQ(hint.reason(), "CANCELLED_BY_CLIENT");
  EXPECT_THAT(hint.metadata(),
              UnorderedElementsAre(Pair("peer", "ipv4:10.0.0.5:51234"),
                                   Pair("requested_by", "Ctrl-C in `llorch-pool models verify`")));

  Operation stopped("op-2", "model.download", "", clock.AsClock());
  EXPECT_TRUE(stopped.RequestCancel(AgentShuttingDown("SIGTERM")));
  stopped.Fail(absl::AbortedError("interrupted read"));
  const v1::ErrorHint shutdown = HintOf(stopped.Snapshot().error());
  EXPECT_EQ(stopped.Snapshot().error().message(),
            "the agent is shutting down (SIGTERM): model.download cancelled");
  EXPECT_EQ(shutdown.reason(), "AGENT_SHUTDOWN");
  EXPECT_THAT(shutdown.metadata(), UnorderedElementsAre(Pair("signal", "SIGTERM")));
}

TEST(OperationTest, WaitForEventReportsEventTimeoutAndEnd) {
  FakeClock clock;
  Operation op("op-1", "model.verify", "", clock.AsClock());
  v1::OperationEvent event;
  ASSERT_EQ(op.WaitForEvent(0, absl::ZeroDuration(), &event), Operation::WaitResult::kEvent);
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(op.WaitForEvent(1, absl::Milliseconds(1), &event), Operation::WaitResult::kTimeout);
  op.Succeed(Text("ok"));
  ASSERT_EQ(op.WaitForEvent(1, absl::ZeroDuration(), &event), Operation::WaitResult::kEvent);
  EXPECT_TRUE(event.final());
  EXPECT_EQ(op.WaitForEvent(2, absl::Seconds(30), &event), Operation::WaitResult::kEnded);
  EXPECT_EQ(op.WaitForEvent(7, absl::Seconds(30), &event), Operation::WaitResult::kEnded);
}

TEST(OperationTest, WatchersAreCounted) {
  Operation op("op-1", "model.verify", "");
  op.AddWatcher();
  op.AddWatcher();
  EXPECT_EQ(op.Snapshot().watchers(), 2u);
  op.RemoveWatcher();
  EXPECT_EQ(op.Snapshot().watchers(), 1u);
}

// ---------------------------------------------------------------------------------------------
// OperationRegistry

TEST(OperationRegistryTest, IdsAreUniqueAndWellFormed) {
  OperationRegistry registry;
  std::set<std::string> ids;
  const std::regex format("op-[0-9a-f]{8}");
  for (int i = 0; i < 300; ++i) {
    std::shared_ptr<Operation> op =
        registry.Start("test.noop", "", "", [](Operation& op) { op.Succeed(Text("")); });
    EXPECT_TRUE(std::regex_match(op->id(), format)) << op->id();
    ids.insert(op->id());
  }
  EXPECT_EQ(ids.size(), 300u);
}

TEST(OperationRegistryTest, WorkRunsOnItsOwnThreadAndSucceeds) {
  OperationRegistry registry;
  const std::thread::id test_thread = std::this_thread::get_id();
  std::shared_ptr<Operation> op =
      registry.Start("model.verify", "qwen", "", [test_thread](Operation& op) {
        op.SetRunning();
        op.Succeed(Text(std::this_thread::get_id() == test_thread ? "same" : "other"));
      });
  const std::vector<v1::OperationEvent> events = Watch(*op);
  EXPECT_THAT(Sequences(events), ElementsAre(1, 2, 3));
  google::protobuf::StringValue result;
  ASSERT_TRUE(events.back().result().UnpackTo(&result));
  EXPECT_EQ(result.value(), "other");
  EXPECT_EQ(op->Snapshot().target(), "qwen");
}

TEST(OperationRegistryTest, TwoWatchersSeeIdenticalEventsAndALateOneTheWholeHistory) {
  OperationRegistry registry;
  Gate gate;
  std::shared_ptr<Operation> op = registry.Start("model.download", "qwen", "", [&](Operation& op) {
    op.SetRunning();
    if (!gate.Wait(op)) return;
    for (int i = 0; i < 200; ++i) {
      op.ReportProgress(MakeProgress(i < 100 ? "download" : "hash", i, 200));
      if (i % 50 == 0) op.Log(v1::LogLine::STREAM_AGENT, "step");
    }
    op.Succeed(Text("done"));
  });
  std::vector<v1::OperationEvent> first, second;
  std::thread watcher1([&] { first = Watch(*op); });
  std::thread watcher2([&] { second = Watch(*op); });
  gate.Open();
  watcher1.join();
  watcher2.join();

  ASSERT_FALSE(first.empty());
  EXPECT_TRUE(first.back().final());
  EXPECT_EQ(first.back().state(), v1::OPERATION_STATE_SUCCEEDED);
  std::vector<uint64_t> expected_sequences;
  for (uint64_t i = 1; i <= first.size(); ++i) expected_sequences.push_back(i);
  EXPECT_EQ(Sequences(first), expected_sequences);
  ASSERT_EQ(first.size(), second.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(first[i], second[i])) << "event " << i + 1;
  }

  const std::vector<v1::OperationEvent> late = Watch(*op);
  ASSERT_EQ(late.size(), first.size());
  for (size_t i = 0; i < late.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(first[i], late[i])) << "event " << i + 1;
  }
  const std::vector<v1::OperationEvent> resumed = Watch(*op, 3);
  ASSERT_EQ(resumed.size(), first.size() - 3);
  EXPECT_EQ(resumed.front().sequence(), 4u);
}

TEST(OperationRegistryTest, CancelStopsACooperativeLoopWithAFinalCancelledEvent) {
  OperationRegistry registry;
  std::atomic<int> rounds{0};
  std::shared_ptr<Operation> op = registry.Start("model.verify", "qwen", "", [&](Operation& op) {
    op.SetRunning();
    for (uint64_t done = 0; !op.cancel_requested(); ++done) {
      ++rounds;
      op.ReportProgress(MakeProgress("hash", done, 0));
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  v1::OperationEvent event;  // the first progress event: the loop is going round
  ASSERT_EQ(op->WaitForEvent(2, absl::Seconds(30), &event), Operation::WaitResult::kEvent);
  EXPECT_TRUE(event.has_progress());

  absl::StatusOr<v1::Operation> snapshot =
      registry.Cancel(op->id(), CancelledByClient("ipv4:127.0.0.1:5555", ""));
  ASSERT_TRUE(snapshot.ok()) << snapshot.status();
  EXPECT_EQ(snapshot->id(), op->id());
  EXPECT_TRUE(op->cancel_requested());

  const std::vector<v1::OperationEvent> events = Watch(*op);
  ASSERT_FALSE(events.empty());
  const v1::OperationEvent& last = events.back();
  EXPECT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_EQ(last.error().code(), static_cast<int>(absl::StatusCode::kCancelled));
  for (size_t i = 0; i + 1 < events.size(); ++i) EXPECT_FALSE(events[i].final());
  EXPECT_GT(rounds.load(), 0);

  // Cancelling again, now that it has finished, changes nothing.
  absl::StatusOr<v1::Operation> again =
      registry.Cancel(op->id(), CancelledByClient("ipv4:127.0.0.1:5555", ""));
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(*again, op->Snapshot()));
  EXPECT_EQ(op->EventsAfter(0).size(), events.size());
}

TEST(OperationRegistryTest, CancellingAFinishedOperationReturnsItUnchanged) {
  OperationRegistry registry;
  std::shared_ptr<Operation> op =
      registry.Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("pulled")); });
  Watch(*op);
  const v1::Operation before = op->Snapshot();
  absl::StatusOr<v1::Operation> after =
      registry.Cancel(op->id(), CancelledByClient("ipv4:127.0.0.1:5555", ""));
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(MessageDifferencer::Equals(before, *after));
  EXPECT_EQ(after->state(), v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_FALSE(op->cancel_requested());
}

TEST(OperationRegistryTest, UnknownIdsAreNotFoundWithReasonAndHint) {
  OperationRegistry registry;
  for (const absl::Status& status :
       {registry.Find("op-00000000").status(),
        registry.Cancel("op-00000000", CancelledByClient("ipv4:127.0.0.1:5555", "")).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
    EXPECT_THAT(std::string(status.message()), HasSubstr("op-00000000"));
    EXPECT_EQ(GetReason(status), "OPERATION_NOT_FOUND");
    EXPECT_EQ(GetHint(status), "`llorch-pool ops list` shows the known operations");
  }
}

TEST(OperationRegistryTest, JoinKeyJoinsARunningOperationButNotAFinishedOne) {
  OperationRegistry registry;
  Gate gate;
  std::atomic<int> runs{0};
  auto download = [&](Operation& op) {
    ++runs;
    if (!gate.Wait(op)) return;
    op.Succeed(Text("downloaded"));
  };
  std::shared_ptr<Operation> first = registry.Start("model.download", "qwen", "qwen", download);
  std::shared_ptr<Operation> joined = registry.Start("model.download", "qwen", "qwen", download);
  std::shared_ptr<Operation> other = registry.Start("model.download", "phi", "phi", download);
  std::shared_ptr<Operation> unkeyed = registry.Start("model.download", "qwen", "", download);
  EXPECT_EQ(joined, first);
  EXPECT_NE(other->id(), first->id());
  EXPECT_NE(unkeyed->id(), first->id());
  gate.Open();
  for (const auto& op : {first, other, unkeyed}) {
    EXPECT_EQ(Watch(*op).back().state(), v1::OPERATION_STATE_SUCCEEDED);
  }
  EXPECT_EQ(runs.load(), 3);

  std::shared_ptr<Operation> later = registry.Start("model.download", "qwen", "qwen", download);
  EXPECT_NE(later->id(), first->id());
  EXPECT_EQ(Watch(*later).back().state(), v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_EQ(runs.load(), 4);
}

// Start() tells a request that started the operation (also a retry with its request_id) from one
// that joined it, and the operation records who started it.
TEST(OperationRegistryTest, StartSaysWhetherTheRequestStartedOrJoinedAndRecordsTheStarter) {
  OperationRegistry registry;
  Gate gate;
  auto download = [&](Operation& op) {
    if (gate.Wait(op)) op.Succeed(Text("downloaded"));
  };
  const Operation::Starter starter{"`llorch-pool models download` (pid 42 on h, uid 7)", "unix:"};
  absl::StatusOr<OperationRegistry::Started> first =
      registry.Start("model.download", "qwen", "qwen", {"a", "fa"}, starter, download);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(first->joined);
  EXPECT_EQ(first->operation->Snapshot().started_by(), starter.client);
  EXPECT_EQ(first->operation->Snapshot().started_by_peer(), "unix:");
  absl::StatusOr<OperationRegistry::Started> retry =
      registry.Start("model.download", "qwen", "qwen", {"a", "fa"}, {}, download);
  ASSERT_TRUE(retry.ok()) << retry.status();
  EXPECT_EQ(retry->operation, first->operation);
  EXPECT_FALSE(retry->joined);
  for (const RequestKey& key : {RequestKey{"b", "fb"}, RequestKey()}) {
    absl::StatusOr<OperationRegistry::Started> joined = registry.Start(
        "model.download", "qwen", "qwen", key, {"another client", "ipv4:10.0.0.5:1"}, download);
    ASSERT_TRUE(joined.ok()) << joined.status();
    EXPECT_EQ(joined->operation, first->operation);
    EXPECT_TRUE(joined->joined);
  }
  absl::StatusOr<OperationRegistry::Started> joined_retry =
      registry.Start("model.download", "qwen", "qwen", {"b", "fb"}, {}, download);
  ASSERT_TRUE(joined_retry.ok());
  EXPECT_TRUE(joined_retry->joined);
  EXPECT_EQ(first->operation->Snapshot().started_by(),
            starter.client);  // the joiners change nothing
  gate.Open();
  EXPECT_EQ(Watch(*first->operation).back().state(), v1::OPERATION_STATE_SUCCEEDED);
}

TEST(OperationRegistryTest, HistoryKeepsTheNewestFinishedAndEveryRunningOperation) {
  OperationRegistry registry(OperationRegistry::Options{.max_finished = 3});
  Gate gate;
  std::shared_ptr<Operation> running = registry.Start("model.download", "", "", [&](Operation& op) {
    if (gate.Wait(op)) op.Succeed(Text(""));
  });
  std::vector<std::string> finished;
  for (int i = 0; i < 5; ++i) {
    std::shared_ptr<Operation> op =
        registry.Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("")); });
    Watch(*op);
    finished.push_back(op->id());
  }
  std::vector<std::string> listed;
  for (const v1::Operation& op : registry.List()) listed.push_back(op.id());
  EXPECT_THAT(listed, ElementsAre(finished[4], finished[3], finished[2], running->id()));
  EXPECT_EQ(registry.Find(finished[0]).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry.Find(finished[1]).status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry.Find(running->id()).ok());
  gate.Open();
  Watch(*running);
}

TEST(OperationRegistryTest, TheOperationThatFinishedFirstIsEvictedFirst) {
  OperationRegistry registry(OperationRegistry::Options{.max_finished = 1});
  Gate gate;
  std::shared_ptr<Operation> older = registry.Start("model.download", "", "", [&](Operation& op) {
    if (gate.Wait(op)) op.Succeed(Text(""));
  });
  std::shared_ptr<Operation> newer =
      registry.Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("")); });
  Watch(*newer);  // finishes first
  gate.Open();
  Watch(*older);
  const std::vector<v1::Operation> listed = registry.List();
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id(), older->id());
}

TEST(OperationRegistryTest, ListFiltersByStateAndKindNewestFirst) {
  OperationRegistry registry;
  Gate gate;
  std::shared_ptr<Operation> a =
      registry.Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("")); });
  Watch(*a);
  std::shared_ptr<Operation> b = registry.Start("model.download", "", "", [&](Operation& op) {
    op.SetRunning();
    if (gate.Wait(op)) op.Succeed(Text(""));
  });
  v1::OperationEvent event;
  ASSERT_EQ(b->WaitForEvent(1, absl::Seconds(30), &event), Operation::WaitResult::kEvent);
  std::shared_ptr<Operation> c =
      registry.Start("git.pull", "", "", [](Operation& op) { op.Fail(absl::UnknownError("x")); });
  Watch(*c);

  auto ids = [](const std::vector<v1::Operation>& ops) {
    std::vector<std::string> ids;
    for (const v1::Operation& op : ops) ids.push_back(op.id());
    return ids;
  };
  EXPECT_THAT(ids(registry.List()), ElementsAre(c->id(), b->id(), a->id()));
  EXPECT_THAT(ids(registry.List({}, "git.pull")), ElementsAre(c->id(), a->id()));
  EXPECT_THAT(ids(registry.List({v1::OPERATION_STATE_RUNNING})), ElementsAre(b->id()));
  EXPECT_THAT(
      ids(registry.List({v1::OPERATION_STATE_SUCCEEDED, v1::OPERATION_STATE_FAILED}, "git.pull")),
      ElementsAre(c->id(), a->id()));
  EXPECT_TRUE(registry.List({v1::OPERATION_STATE_CANCELLED}).empty());
  gate.Open();
  Watch(*b);
}

TEST(OperationRegistryTest, WorkReturningWithoutAResultFailsWithInternal) {
  OperationRegistry registry;
  std::shared_ptr<Operation> op =
      registry.Start("dev.setup", "", "", [](Operation& op) { op.SetRunning(); });
  const v1::OperationEvent last = Watch(*op).back();
  EXPECT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(last.error().code(), static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_THAT(last.error().message(), HasSubstr("dev.setup"));
}

TEST(OperationRegistryTest, WorkThatThrowsFailsWithInternal) {
  OperationRegistry registry;
  std::shared_ptr<Operation> op = registry.Start(
      "worker.spawn", "", "", [](Operation&) { throw std::runtime_error("no such binary"); });
  const v1::OperationEvent last = Watch(*op).back();
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(last.error().code(), static_cast<int>(absl::StatusCode::kInternal));
  EXPECT_THAT(last.error().message(), HasSubstr("worker.spawn"));
  EXPECT_THAT(last.error().message(), HasSubstr("no such binary"));
}

TEST(OperationRegistryTest, DestructionCancelsRunningWorkAndJoinsIt) {
  auto registry = std::make_unique<OperationRegistry>();
  std::atomic<bool> returned{false};
  std::shared_ptr<Operation> op = registry->Start("model.download", "", "", [&](Operation& op) {
    op.SetRunning();
    while (!op.cancel_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    returned = true;
  });
  registry.reset();
  EXPECT_TRUE(returned.load());
  EXPECT_EQ(op->state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_TRUE(op->EventsAfter(0).back().final());
}

TEST(OperationRegistryTest, WorkMayHoldTheLastReferenceToTheRegistry) {
  auto registry = std::make_shared<OperationRegistry>();
  Gate gate;
  std::shared_ptr<Operation> op =
      registry->Start("git.pull", "", "", [&gate, keep = registry](Operation& op) {
        if (gate.Wait(op)) op.Succeed(Text(""));
      });
  registry.reset();  // the work's copy is now the only one
  gate.Open();
  EXPECT_EQ(Watch(*op).back().state(), v1::OPERATION_STATE_SUCCEEDED);
}

}  // namespace
}  // namespace llorch
