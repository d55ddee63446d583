// ModelService.DownloadModel over gRPC against the fake Hub: two requests for the same models
// join one operation, a client that goes away does not stop the download, and requests that
// cannot start are refused before any operation exists.
#include "agent/models/model_service.h"

#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::testing::HasSubstr;

constexpr uint64_t kSize = 4 << 20;

class ModelServiceDownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.AddFile("owner/Tiny-GGUF", "tiny.gguf", testing::GgufFileOfSize(kSize, 5));
    hub_.SetFaults({.bytes_per_second_per_connection = 4 << 20});  // about a second
    testing::WriteFileBytes(temp_.path() + "/catalog.toml", R"([[models]]
id = "tiny"
name = "Tiny"
repo = "owner/Tiny-GGUF"
file = "tiny.gguf"
dir = "tiny"
size_bytes = 4194304
)");
    // The agent reads the Hub's address from its environment, as the real one does.
    setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
    Config config;
    config.catalog = temp_.path() + "/catalog.toml";
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/true, {}, config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    stub_ = v1::ModelService::NewStub(agent_.server->InProcessChannel());
  }

  std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> Download(grpc::ClientContext* context,
                                                                   std::vector<std::string> ids) {
    v1::DownloadModelRequest request;
    for (const std::string& id : ids) request.add_ids(id);
    return stub_->DownloadModel(context, request);
  }

  testing::TempDir temp_;
  testing::FakeHub hub_;
  testing::TestAgent agent_;
  std::unique_ptr<v1::ModelService::Stub> stub_;
};

TEST_F(ModelServiceDownloadTest, TwoRequestsForTheSameModelJoinOneOperation) {
  grpc::ClientContext first_context, second_context;
  auto first = Download(&first_context, {"tiny"});
  v1::OperationEvent first_event;
  ASSERT_TRUE(first->Read(&first_event));
  auto second = Download(&second_context, {"tiny", "tiny"});  // the same models, once each
  v1::OperationEvent event;
  ASSERT_TRUE(second->Read(&event));
  EXPECT_EQ(event.operation_id(), first_event.operation_id());
  EXPECT_EQ(event.sequence(), 1u);  // the joiner gets the history from the start
  v1::OperationEvent last;
  while (second->Read(&event)) last = event;
  ASSERT_TRUE(second->Finish().ok());
  ASSERT_TRUE(last.final());
  ASSERT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED) << last.error().message();
  v1::DownloadModelResult result;
  ASSERT_TRUE(last.result().UnpackTo(&result));
  ASSERT_EQ(result.models_size(), 1);
  EXPECT_EQ(result.models(0).bytes_fetched(), kSize);
  EXPECT_EQ(hub_.bytes_sent(), kSize);  // one download for both
  while (first->Read(&event)) {
  }
  EXPECT_TRUE(first->Finish().ok());
}

TEST_F(ModelServiceDownloadTest, AClientThatGoesAwayDoesNotStopTheDownload) {
  std::string id;
  {
    grpc::ClientContext context;
    auto stream = Download(&context, {"tiny"});
    v1::OperationEvent event;
    ASSERT_TRUE(stream->Read(&event));
    id = event.operation_id();
    context.TryCancel();
  }
  auto operations = v1::OperationService::NewStub(agent_.server->InProcessChannel());
  v1::GetOperationRequest get;
  get.set_id(id);
  v1::Operation operation;
  ASSERT_TRUE(testing::WaitFor([&] {
    grpc::ClientContext context;
    return operations->GetOperation(&context, get, &operation).ok() &&
           operation.state() == v1::OPERATION_STATE_SUCCEEDED;
  }))
      << operation.DebugString();
  EXPECT_TRUE(std::filesystem::exists(temp_.path() + "/models/tiny/tiny.gguf"));
}

TEST_F(ModelServiceDownloadTest, RequestsThatCannotStartAreRefusedBeforeAnyOperation) {
  grpc::ClientContext unknown_context;
  v1::OperationEvent event;
  auto unknown = Download(&unknown_context, {"tiny", "tinny"});
  EXPECT_FALSE(unknown->Read(&event));
  grpc::Status status = unknown->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("unknown model 'tinny' (did you mean 'tiny'?)"));

  grpc::ClientContext empty_context;
  auto empty = Download(&empty_context, {});
  EXPECT_FALSE(empty->Read(&event));
  EXPECT_EQ(empty->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(agent_.context->operations->List().empty());
  EXPECT_TRUE(hub_.requests().empty());
}

}  // namespace
}  // namespace llorch
