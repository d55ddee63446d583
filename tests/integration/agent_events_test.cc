// AgentService.WatchEvents over a real unix socket, as an orchestrator follows a host: every
// operation's creation and changes of state up to its result, in one sequence stamped with the
// agent's instance id; a client resumes after the last event it saw; and a resume the agent
// cannot serve (a restarted agent, events no longer kept) is OUT_OF_RANGE with EVENTS_EXPIRED.
#include <gmock/gmock.h>
#include <google/protobuf/wrappers.pb.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/ops/event_bus.h"
#include "agent/server/agent_server.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class AgentEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string socket = temp_.path() + "/run/agent.sock";
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/false, {UnixAddress(socket)});
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    stub_ = v1::AgentService::NewStub(
        grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  }

  std::string InstanceId() {
    grpc::ClientContext context;
    v1::HostInfo info;
    EXPECT_TRUE(stub_->GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
    return info.instance_id();
  }

  // The first `count` events of WatchEvents(request); the stream is then closed.
  std::vector<v1::AgentEvent> Read(const v1::WatchEventsRequest& request, size_t count) {
    grpc::ClientContext context;
    auto stream = stub_->WatchEvents(&context, request);
    std::vector<v1::AgentEvent> events;
    v1::AgentEvent event;
    while (events.size() < count && stream->Read(&event)) events.push_back(event);
    context.TryCancel();
    stream->Finish();
    return events;
  }

  // How WatchEvents(request) ends when it ends before any event.
  grpc::Status Refusal(const v1::WatchEventsRequest& request) {
    grpc::ClientContext context;
    auto stream = stub_->WatchEvents(&context, request);
    v1::AgentEvent event;
    EXPECT_FALSE(stream->Read(&event)) << event.DebugString();
    return stream->Finish();
  }

  // Runs an operation of kind `kind` to success through the agent's registry.
  void RunOperation(const std::string& kind) {
    std::shared_ptr<Operation> op =
        agent_.context->operations->Start(kind, "tiny", "", [](Operation& op) {
          op.SetRunning();
          google::protobuf::StringValue result;
          result.set_value("done");
          op.Succeed(result);
        });
    ASSERT_TRUE(testing::WaitFor([&] { return op->finished(); }));
  }

  testing::TempDir temp_;
  testing::TestAgent agent_;
  std::unique_ptr<v1::AgentService::Stub> stub_;
};

TEST_F(AgentEventsTest, AnOperationsLifeArrivesInOrderWithTheAgentsInstanceId) {
  grpc::ClientContext context;
  auto stream = stub_->WatchEvents(&context, v1::WatchEventsRequest());
  RunOperation("model.verify");
  std::vector<v1::AgentEvent> events(3);
  for (v1::AgentEvent& event : events) ASSERT_TRUE(stream->Read(&event));
  context.TryCancel();
  stream->Finish();

  const std::string instance = InstanceId();
  EXPECT_EQ(instance.size(), 32u);
  std::vector<v1::OperationState> states;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), i + 1);
    EXPECT_EQ(events[i].agent_instance_id(), instance);
    EXPECT_GT(events[i].time().seconds(), 0);
    ASSERT_TRUE(events[i].has_operation());
    EXPECT_EQ(events[i].operation().id(), events[0].operation().id());
    EXPECT_EQ(events[i].operation().kind(), "model.verify");
    states.push_back(events[i].operation().state());
  }
  EXPECT_THAT(states, ElementsAre(v1::OPERATION_STATE_PENDING, v1::OPERATION_STATE_RUNNING,
                                  v1::OPERATION_STATE_SUCCEEDED));
  google::protobuf::StringValue result;
  ASSERT_TRUE(events[2].operation().result().UnpackTo(&result));
  EXPECT_EQ(result.value(), "done");
}

TEST_F(AgentEventsTest, AClientResumesAfterTheLastEventItSaw) {
  RunOperation("model.verify");
  RunOperation("git.pull");
  v1::WatchEventsRequest resume;
  resume.set_after_sequence(2);
  resume.set_agent_instance_id(InstanceId());
  const std::vector<v1::AgentEvent> events = Read(resume, 4);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].sequence(), 3u);
  EXPECT_EQ(events[0].operation().kind(), "model.verify");
  EXPECT_EQ(events[0].operation().state(), v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_EQ(events[1].sequence(), 4u);
  EXPECT_EQ(events[1].operation().kind(), "git.pull");
  EXPECT_EQ(events[3].sequence(), 6u);
}

TEST_F(AgentEventsTest, AResumeFromAnotherRunOfTheAgentIsExpired) {
  RunOperation("model.verify");
  v1::WatchEventsRequest resume;
  resume.set_after_sequence(1);
  resume.set_agent_instance_id("0123456789abcdef0123456789abcdef");
  const grpc::Status status = Refusal(resume);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("the agent restarted"));
  const v1::ErrorHint hint = testing::ErrorHintOf(status);
  EXPECT_EQ(hint.reason(), "EVENTS_EXPIRED");
  EXPECT_EQ(hint.metadata().at("agent_instance_id"), InstanceId());
}

// The agent keeps the last 10,000 events: a client resuming from before them is told they are
// gone (and which is the oldest kept), while one asking for everything kept gets them.
TEST_F(AgentEventsTest, AResumeFromBeforeTheKeptEventsIsExpired) {
  for (int i = 0; i < 10005; ++i) {
    v1::AgentEvent event;
    event.mutable_model()->set_kind(v1::ModelChange::KIND_REMOVED);
    event.mutable_model()->set_model_id("tiny");
    agent_.context->events->Publish(std::move(event));
  }
  v1::WatchEventsRequest resume;
  resume.set_after_sequence(4);
  const grpc::Status status = Refusal(resume);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_THAT(status.error_message(), HasSubstr("no longer kept"));
  const v1::ErrorHint hint = testing::ErrorHintOf(status);
  EXPECT_EQ(hint.reason(), "EVENTS_EXPIRED");
  EXPECT_EQ(hint.metadata().at("first_sequence"), "6");
  EXPECT_THAT(hint.hint(), HasSubstr("list"));

  resume.set_after_sequence(5);  // the one before the oldest kept: nothing is missing
  std::vector<v1::AgentEvent> events = Read(resume, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].sequence(), 6u);
  events = Read(v1::WatchEventsRequest(), 1);  // 0: everything kept
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].sequence(), 6u);
}

}  // namespace
}  // namespace llorch
