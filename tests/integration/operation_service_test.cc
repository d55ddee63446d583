// OperationService over a real in-process gRPC server: watching streams the history then live
// events, a client that goes away does not cancel, CancelOperation stops cooperative work, and
// unknown ids are NOT_FOUND with a reason the CLI and orchestrators can act on.
#include "agent/ops/operation_service.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/wrappers.pb.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/ops/operation_registry.h"
#include "agent/server/agent_context.h"
#include "agent/server/agent_server.h"
#include "common/status.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Holds work back until the test opens it; gives up when the operation is cancelled, so that a
// failing test cannot hang the registry's destructor.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    opened_.notify_all();
  }
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

google::protobuf::StringValue Text(const std::string& value) {
  google::protobuf::StringValue text;
  text.set_value(value);
  return text;
}

class OperationServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/true);
    ASSERT_TRUE(agent.ok()) << agent.status();
    context_ = agent->context;
    server_ = std::move(agent->server);
    ASSERT_NE(context_->operations, nullptr);
    stub_ = v1::OperationService::NewStub(server_->InProcessChannel());
  }

  OperationRegistry& registry() { return *context_->operations; }

  // Reads the stream to its end; the status of the call in *status.
  std::vector<v1::OperationEvent> ReadAll(grpc::ClientReader<v1::OperationEvent>& reader,
                                          grpc::Status* status) {
    std::vector<v1::OperationEvent> events;
    v1::OperationEvent event;
    while (reader.Read(&event)) events.push_back(event);
    *status = reader.Finish();
    return events;
  }

  std::vector<v1::OperationEvent> WatchToEnd(const std::string& id, uint64_t after = 0) {
    v1::WatchOperationRequest request;
    request.set_id(id);
    request.set_after_sequence(after);
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> reader =
        stub_->WatchOperation(&context, request);
    grpc::Status status;
    std::vector<v1::OperationEvent> events = ReadAll(*reader, &status);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return events;
  }

  v1::Operation Get(const std::string& id) {
    v1::GetOperationRequest request;
    request.set_id(id);
    v1::Operation operation;
    grpc::ClientContext context;
    grpc::Status status = stub_->GetOperation(&context, request, &operation);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return operation;
  }

  testing::TempDir temp_;
  std::shared_ptr<const AgentContext> context_;
  std::unique_ptr<AgentServer> server_;
  std::unique_ptr<v1::OperationService::Stub> stub_;
};

void ExpectNotFound(const grpc::Status& status, const std::string& id) {
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr(id));
  v1::RpcStatus details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  ASSERT_EQ(details.details_size(), 1);
  v1::ErrorHint hint;
  ASSERT_TRUE(details.details(0).UnpackTo(&hint));
  EXPECT_EQ(hint.reason(), "OPERATION_NOT_FOUND");
  EXPECT_EQ(hint.hint(), "`llorch-pool ops list` shows the known operations");
}

TEST_F(OperationServiceTest, UnknownIdsAreNotFoundWithReasonAndHint) {
  {
    v1::GetOperationRequest request;
    request.set_id("op-deadbeef");
    v1::Operation operation;
    grpc::ClientContext context;
    ExpectNotFound(stub_->GetOperation(&context, request, &operation), "op-deadbeef");
  }
  {
    v1::CancelOperationRequest request;
    request.set_id("op-deadbeef");
    v1::Operation operation;
    grpc::ClientContext context;
    ExpectNotFound(stub_->CancelOperation(&context, request, &operation), "op-deadbeef");
  }
  {
    v1::WatchOperationRequest request;
    request.set_id("op-deadbeef");
    grpc::ClientContext context;
    auto reader = stub_->WatchOperation(&context, request);
    grpc::Status status;
    EXPECT_TRUE(ReadAll(*reader, &status).empty());
    ExpectNotFound(status, "op-deadbeef");
  }
}

TEST_F(OperationServiceTest, WatchStreamsTheHistoryThenLiveEventsToEveryWatcher) {
  Gate gate;
  std::shared_ptr<Operation> op = registry().Start("model.verify", "qwen", "", [&](Operation& op) {
    op.SetRunning();
    op.Log(v1::LogLine::STREAM_AGENT, "before");
    if (!gate.Wait(op)) return;
    op.Log(v1::LogLine::STREAM_AGENT, "after");
    v1::Progress progress;
    progress.set_phase("hash");
    progress.set_done(10);
    progress.set_total(10);
    op.ReportProgress(progress);
    op.Succeed(Text("verified"));
  });
  v1::OperationEvent third;
  ASSERT_EQ(op->WaitForEvent(2, absl::Seconds(30), &third), Operation::WaitResult::kEvent);

  // Two watchers, each having read the history while the work is held back.
  v1::WatchOperationRequest request;
  request.set_id(op->id());
  grpc::ClientContext context1, context2;
  auto reader1 = stub_->WatchOperation(&context1, request);
  auto reader2 = stub_->WatchOperation(&context2, request);
  std::vector<v1::OperationEvent> seen1(3), seen2(3);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(reader1->Read(&seen1[i]));
    ASSERT_TRUE(reader2->Read(&seen2[i]));
  }
  EXPECT_EQ(seen1[2].log().text(), "before");
  EXPECT_EQ(Get(op->id()).watchers(), 2u);
  EXPECT_EQ(Get(op->id()).state(), v1::OPERATION_STATE_RUNNING);

  gate.Open();
  grpc::Status status1, status2;
  for (v1::OperationEvent& event : ReadAll(*reader1, &status1)) seen1.push_back(event);
  for (v1::OperationEvent& event : ReadAll(*reader2, &status2)) seen2.push_back(event);
  EXPECT_TRUE(status1.ok()) << status1.error_message();
  EXPECT_TRUE(status2.ok()) << status2.error_message();

  const std::vector<v1::OperationEvent> history = op->EventsAfter(0);
  ASSERT_EQ(seen1.size(), history.size());
  ASSERT_EQ(seen2.size(), history.size());
  for (size_t i = 0; i < history.size(); ++i) {
    EXPECT_EQ(seen1[i].sequence(), i + 1);
    EXPECT_EQ(seen1[i].operation_id(), op->id());
    EXPECT_TRUE(MessageDifferencer::Equals(seen1[i], history[i])) << "event " << i + 1;
    EXPECT_TRUE(MessageDifferencer::Equals(seen2[i], history[i])) << "event " << i + 1;
  }
  const v1::OperationEvent& last = seen1.back();
  EXPECT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED);
  google::protobuf::StringValue result;
  ASSERT_TRUE(last.result().UnpackTo(&result));
  EXPECT_EQ(result.value(), "verified");

  const v1::Operation finished = Get(op->id());
  EXPECT_EQ(finished.state(), v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_EQ(finished.progress().done(), 10u);
  EXPECT_TRUE(MessageDifferencer::Equals(finished.result(), last.result()));
}

// Whatever an operation carries, from outside the agent (a GGUF's name, a file name), arrives
// as valid UTF-8: in the unary answer, in its events, in the result packed in an Any and in the
// error with its hint. A request that is not valid UTF-8 is refused as such.
TEST_F(OperationServiceTest, EverythingSentIsValidUtf8AndARequestThatIsNotIsRefused) {
  const std::string kReplacement = "\xEF\xBF\xBD";
  std::shared_ptr<Operation> done =
      registry().Start("model.verify", "q\xffwen", "", [](Operation& op) {
        op.Log(v1::LogLine::STREAM_AGENT, "line \xfe");
        op.Succeed(Text("result \xff\xfe"));
      });
  std::shared_ptr<Operation> failed = registry().Start("git.pull", "", "", [](Operation& op) {
    op.Fail(WithHint(absl::InternalError("message \xff"), "hint \xfe"));
  });

  const std::vector<v1::OperationEvent> events = WatchToEnd(done->id());
  ASSERT_EQ(events.size(), 3u);  // pending, the line, final
  EXPECT_EQ(events[1].log().text(), "line " + kReplacement);
  google::protobuf::StringValue result;
  ASSERT_TRUE(events[2].result().UnpackTo(&result));
  EXPECT_EQ(result.value(), "result " + kReplacement + kReplacement);
  EXPECT_EQ(Get(done->id()).target(), "q" + kReplacement + "wen");

  const std::vector<v1::OperationEvent> failure = WatchToEnd(failed->id());
  ASSERT_FALSE(failure.empty());
  EXPECT_EQ(failure.back().error().message(), "message " + kReplacement);
  v1::ErrorHint hint;
  ASSERT_EQ(failure.back().error().details_size(), 1);
  ASSERT_TRUE(failure.back().error().details(0).UnpackTo(&hint));
  EXPECT_EQ(hint.hint(), "hint " + kReplacement);

  v1::GetOperationRequest request;
  request.set_id("op-\xff");  // protobuf sends it, with a complaint in the log
  v1::Operation operation;
  grpc::ClientContext context;
  const grpc::Status status = stub_->GetOperation(&context, request, &operation);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("not valid UTF-8"));
  v1::RpcStatus details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  ASSERT_EQ(details.details_size(), 1);
  ASSERT_TRUE(details.details(0).UnpackTo(&hint));
  EXPECT_EQ(hint.reason(), "INVALID_REQUEST");
}

TEST_F(OperationServiceTest, ALateWatcherGetsTheWholeHistoryOrWhatFollowsAfterSequence) {
  std::shared_ptr<Operation> op = registry().Start("git.pull", "", "", [](Operation& op) {
    for (int i = 0; i < 5; ++i) op.Log(v1::LogLine::STREAM_STDOUT, "line");
    op.Succeed(Text("pulled"));
  });
  const std::vector<v1::OperationEvent> all = WatchToEnd(op->id());
  ASSERT_EQ(all.size(), 7u);  // pending, 5 lines, final
  EXPECT_TRUE(all.back().final());
  const std::vector<v1::OperationEvent> late = WatchToEnd(op->id());
  ASSERT_EQ(late.size(), all.size());
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_TRUE(MessageDifferencer::Equals(late[i], all[i]));
  }
  const std::vector<v1::OperationEvent> resumed = WatchToEnd(op->id(), 4);
  ASSERT_EQ(resumed.size(), 3u);
  EXPECT_EQ(resumed.front().sequence(), 5u);
  // Seen it all, or further than the agent numbered: the final event alone, so that every
  // stream of a finished operation ends with it.
  for (uint64_t after : {7, 1000}) {
    const std::vector<v1::OperationEvent> again = WatchToEnd(op->id(), after);
    ASSERT_EQ(again.size(), 1u);
    EXPECT_TRUE(MessageDifferencer::Equals(again[0], all.back()));
  }
}

TEST_F(OperationServiceTest, WatchingBeyondTheLastSequenceGetsOnlyLiveEvents) {
  Gate gate;
  std::shared_ptr<Operation> op = registry().Start("git.sync", "", "", [&](Operation& op) {
    op.SetRunning();
    if (gate.Wait(op)) op.Succeed(Text("synced"));
  });
  v1::OperationEvent running;
  ASSERT_EQ(op->WaitForEvent(1, absl::Seconds(30), &running), Operation::WaitResult::kEvent);
  v1::WatchOperationRequest request;
  request.set_id(op->id());
  request.set_after_sequence(1000);
  grpc::ClientContext context;
  auto reader = stub_->WatchOperation(&context, request);
  ASSERT_TRUE(testing::WaitFor([&] { return op->Snapshot().watchers() == 1; }, 30));
  gate.Open();
  grpc::Status status;
  const std::vector<v1::OperationEvent> events = ReadAll(*reader, &status);
  EXPECT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].sequence(), 3u);
  EXPECT_TRUE(events[0].final());
}

TEST_F(OperationServiceTest, AClientThatGoesAwayDoesNotCancelTheOperation) {
  Gate gate;
  std::shared_ptr<Operation> op =
      registry().Start("model.download", "qwen", "", [&](Operation& op) {
        op.SetRunning();
        if (gate.Wait(op)) op.Succeed(Text("downloaded"));
      });
  v1::WatchOperationRequest request;
  request.set_id(op->id());
  grpc::ClientContext context;
  auto reader = stub_->WatchOperation(&context, request);
  v1::OperationEvent event;
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_EQ(event.sequence(), 1u);
  EXPECT_EQ(event.operation_id(), op->id());
  context.TryCancel();
  grpc::Status status;
  ReadAll(*reader, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);

  // The server side notices and lets go of the operation, which carries on.
  EXPECT_TRUE(testing::WaitFor([&] { return op->Snapshot().watchers() == 0; }, 30));
  EXPECT_FALSE(op->cancel_requested());
  EXPECT_FALSE(op->finished());
  gate.Open();
  const std::vector<v1::OperationEvent> events = WatchToEnd(op->id());
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back().state(), v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_EQ(Get(op->id()).state(), v1::OPERATION_STATE_SUCCEEDED);
}

// The final event says who asked, as an orchestrator's other watchers need it: the reason, the
// gRPC peer and what the client said it is.
TEST_F(OperationServiceTest, CancelOperationStopsCooperativeWorkAndItsErrorSaysWhoAsked) {
  std::shared_ptr<Operation> op = registry().Start("model.verify", "qwen", "", [](Operation& op) {
    v1::Progress progress;
    progress.set_phase("hash");
    progress.set_unit(v1::PROGRESS_UNIT_BYTES);
    for (uint64_t done = 0; !op.cancel_requested(); done += 1 << 20) {
      progress.set_done(done);
      op.ReportProgress(progress);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    op.Fail(absl::CancelledError("hashing cancelled"));
  });
  v1::WatchOperationRequest watch;
  watch.set_id(op->id());
  grpc::ClientContext stream_context;
  auto reader = stub_->WatchOperation(&stream_context, watch);
  v1::OperationEvent event;
  ASSERT_TRUE(reader->Read(&event));
  ASSERT_TRUE(reader->Read(&event));
  EXPECT_TRUE(event.has_progress());

  v1::CancelOperationRequest cancel;
  cancel.set_id(op->id());
  cancel.set_requested_by("Ctrl-C in `llorch-pool models verify` (pid 7 on test)");
  v1::Operation after_cancel;
  grpc::ClientContext cancel_context;
  grpc::Status status = stub_->CancelOperation(&cancel_context, cancel, &after_cancel);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(after_cancel.id(), op->id());
  EXPECT_THAT(after_cancel.state(),
              ::testing::AnyOf(v1::OPERATION_STATE_RUNNING, v1::OPERATION_STATE_CANCELLED));

  std::vector<v1::OperationEvent> rest = ReadAll(*reader, &status);
  EXPECT_TRUE(status.ok()) << status.error_message();  // the cancellation is in the event
  ASSERT_FALSE(rest.empty());
  const v1::OperationEvent& last = rest.back();
  EXPECT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_EQ(last.error().code(), grpc::StatusCode::CANCELLED);
  const v1::ErrorHint hint = testing::ErrorHintOf(last.error());
  EXPECT_EQ(hint.reason(), "CANCELLED_BY_CLIENT");
  EXPECT_EQ(hint.metadata().count("requested_by"), 1u);
  EXPECT_EQ(hint.metadata().at("requested_by"), cancel.requested_by());
  ASSERT_EQ(hint.metadata().count("peer"), 1u);
  const std::string peer = hint.metadata().at("peer");
  EXPECT_FALSE(peer.empty());
  EXPECT_EQ(last.error().message(),
            "cancelled by Ctrl-C in `llorch-pool models verify` (pid 7 on test) (peer " + peer +
                "): hashing cancelled");

  const v1::Operation finished = Get(op->id());
  EXPECT_EQ(finished.state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_TRUE(finished.has_finished_at());
  EXPECT_TRUE(MessageDifferencer::Equals(finished.error(), last.error()));
}

TEST_F(OperationServiceTest, CancellingAFinishedOperationReturnsItUnchanged) {
  std::shared_ptr<Operation> op =
      registry().Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("pulled")); });
  WatchToEnd(op->id());
  const v1::Operation before = Get(op->id());
  v1::CancelOperationRequest cancel;
  cancel.set_id(op->id());
  v1::Operation after;
  grpc::ClientContext context;
  ASSERT_TRUE(stub_->CancelOperation(&context, cancel, &after).ok());
  EXPECT_TRUE(MessageDifferencer::Equals(before, after));
  EXPECT_EQ(after.state(), v1::OPERATION_STATE_SUCCEEDED);
}

TEST_F(OperationServiceTest, ListOperationsIsNewestFirstAndFilters) {
  std::shared_ptr<Operation> pull =
      registry().Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("")); });
  WatchToEnd(pull->id());
  std::shared_ptr<Operation> verify = registry().Start(
      "model.verify", "qwen", "", [](Operation& op) { op.Fail(absl::DataLossError("bad")); });
  WatchToEnd(verify->id());

  auto list = [&](std::vector<v1::OperationState> states, const std::string& kind) {
    v1::ListOperationsRequest request;
    for (v1::OperationState state : states) request.add_states(state);
    request.set_kind(kind);
    v1::ListOperationsResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->ListOperations(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    std::vector<std::string> ids;
    for (const v1::Operation& op : response.operations()) ids.push_back(op.id());
    return ids;
  };
  EXPECT_THAT(list({}, ""), ElementsAre(verify->id(), pull->id()));
  EXPECT_THAT(list({}, "git.pull"), ElementsAre(pull->id()));
  EXPECT_THAT(list({v1::OPERATION_STATE_FAILED}, ""), ElementsAre(verify->id()));
  EXPECT_THAT(list({v1::OPERATION_STATE_RUNNING}, ""), ElementsAre());
}

}  // namespace
}  // namespace llorch
