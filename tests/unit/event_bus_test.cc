// The agent's event bus: every event stamped with the next sequence, the time and the agent's
// instance id; a reader that falls behind by more than the bus keeps learns so (never blocking
// the publisher); and the operation registry publishing each operation's changes of state.
#include "agent/ops/event_bus.h"

#include <gmock/gmock.h>
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/ops/operation_registry.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::testing::ElementsAre;

v1::AgentEvent ModelRemoved(const std::string& id) {
  v1::AgentEvent event;
  event.mutable_model()->set_kind(v1::ModelChange::KIND_REMOVED);
  event.mutable_model()->set_model_id(id);
  return event;
}

TEST(EventBusTest, EventsAreStampedWithSequenceTimeAndInstance) {
  std::vector<std::string> observed;  // what the agent's log is given: stamped events
  EventBus bus("0123abcd", {.capacity = 10,
                            .clock = [] { return absl::FromUnixMillis(1500); },
                            .observer =
                                [&](const v1::AgentEvent& event) {
                                  observed.push_back(absl::StrCat(event.sequence(), " ",
                                                                  event.model().model_id(), " ",
                                                                  event.agent_instance_id()));
                                }});
  EXPECT_EQ(bus.last_sequence(), 0u);
  EXPECT_EQ(bus.first_kept_sequence(), 1u);
  EXPECT_EQ(bus.Publish(ModelRemoved("a")), 1u);
  EXPECT_EQ(bus.Publish(ModelRemoved("b")), 2u);
  v1::AgentEvent event;
  ASSERT_EQ(bus.WaitForEvent(1, absl::ZeroDuration(), &event), EventBus::ReadResult::kEvent);
  EXPECT_EQ(event.sequence(), 2u);
  EXPECT_EQ(event.model().model_id(), "b");
  EXPECT_EQ(event.agent_instance_id(), "0123abcd");
  EXPECT_EQ(event.time().seconds(), 1);
  EXPECT_EQ(event.time().nanos(), 500000000);
  EXPECT_EQ(bus.WaitForEvent(2, absl::Milliseconds(1), &event), EventBus::ReadResult::kTimeout);
  EXPECT_EQ(observed, (std::vector<std::string>{"1 a 0123abcd", "2 b 0123abcd"}));
}

// The publisher never waits for a reader: one that has not read for more than `capacity` events
// finds the ones it needs gone, and says so rather than skipping them.
TEST(EventBusTest, AReaderThatFallsBehindTheBufferIsToldItsEventsExpired) {
  EventBus bus("0123abcd", {.capacity = 3, .clock = absl::Now, .observer = nullptr});
  for (const char* id : {"a", "b", "c", "d", "e"}) bus.Publish(ModelRemoved(id));
  EXPECT_EQ(bus.last_sequence(), 5u);
  EXPECT_EQ(bus.first_kept_sequence(), 3u);
  v1::AgentEvent event;
  EXPECT_EQ(bus.WaitForEvent(0, absl::ZeroDuration(), &event), EventBus::ReadResult::kExpired);
  EXPECT_EQ(bus.WaitForEvent(1, absl::ZeroDuration(), &event), EventBus::ReadResult::kExpired);
  ASSERT_EQ(bus.WaitForEvent(2, absl::ZeroDuration(), &event), EventBus::ReadResult::kEvent);
  EXPECT_EQ(event.sequence(), 3u);
  EXPECT_EQ(event.model().model_id(), "c");
}

// An operation's creation, each change of its state and each wait (not its progress or log).
TEST(EventBusTest, TheRegistryPublishesEachOperationsChangesOfState) {
  auto bus = std::make_shared<EventBus>("0123abcd");
  {
    OperationRegistry::Options options;
    options.events = bus;
    OperationRegistry registry(std::move(options));
    std::shared_ptr<Operation> op = registry.Start("model.download", "tiny", "", [](Operation& op) {
      v1::WaitingFor holder;
      holder.set_operation_id("op-00000001");
      op.WaitFor(holder);
      op.Log(v1::LogLine::STREAM_AGENT, "still waiting");
      op.SetRunning();
      v1::Progress progress;
      progress.set_phase("download");
      progress.set_done(1);
      op.ReportProgress(progress);
      google::protobuf::StringValue result;
      result.set_value("done");
      op.Succeed(result);
    });
    while (!op->finished()) absl::SleepFor(absl::Milliseconds(1));
  }
  std::vector<v1::OperationState> states;
  std::vector<bool> waits;
  v1::AgentEvent event;
  for (uint64_t after = 0; after < bus->last_sequence(); ++after) {
    ASSERT_EQ(bus->WaitForEvent(after, absl::ZeroDuration(), &event), EventBus::ReadResult::kEvent);
    ASSERT_TRUE(event.has_operation());
    EXPECT_EQ(event.operation().kind(), "model.download");
    states.push_back(event.operation().state());
    waits.push_back(event.operation().has_waiting_for());
  }
  EXPECT_THAT(states, ElementsAre(v1::OPERATION_STATE_PENDING, v1::OPERATION_STATE_PENDING,
                                  v1::OPERATION_STATE_RUNNING, v1::OPERATION_STATE_SUCCEEDED));
  EXPECT_THAT(waits, ElementsAre(false, true, false, false));
  EXPECT_TRUE(event.operation().has_result());
}

}  // namespace
}  // namespace llorch
