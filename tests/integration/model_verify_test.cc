// `models verify` as an operation, through the real services: progress, result, watchers,
// cancellation.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/models/store/model_store.h"
#include "agent/models/store/sha256_file.h"
#include "agent/server/agent_server.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::HasSubstr;

class ModelVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/true);
    ASSERT_TRUE(agent.ok()) << agent.status();
    context_ = agent->context;
    server_ = std::move(agent->server);
    channel_ = server_->InProcessChannel();
  }

  // Writes a GGUF model file of `extra` bytes after the header, and (optionally) its manifest.
  void WriteModel(const std::string& id, uint64_t extra, bool sparse, bool manifest) {
    const CatalogModel& model = *context_->catalog->Find(id);
    ModelStore store(context_->models_dir);
    fs::create_directories(store.ModelPath(model).parent_path());
    testing::GgufBuilder gguf(3);
    gguf.AddString("general.architecture", "llama");
    const std::string header = gguf.Build();
    {
      std::ofstream out(store.ModelPath(model), std::ios::binary);
      out << header;
      if (!sparse) out << std::string(extra, 'z');
    }
    if (sparse) {
      ASSERT_EQ(truncate(store.ModelPath(model).c_str(), header.size() + extra), 0);
    }
    if (manifest) {
      Manifest record;
      record.file = model.file;
      record.size = header.size() + extra;
      record.sha256 = sparse ? std::string(64, '0') : *Sha256File(store.ModelPath(model).string());
      ASSERT_TRUE(store.WriteManifest(model, record).ok());
    }
  }

  std::vector<v1::OperationEvent> Verify(std::vector<std::string> ids, grpc::Status* status) {
    v1::VerifyModelRequest request;
    for (const std::string& id : ids) request.add_ids(id);
    grpc::ClientContext context;
    auto reader = v1::ModelService::NewStub(channel_)->VerifyModel(&context, request);
    std::vector<v1::OperationEvent> events;
    v1::OperationEvent event;
    while (reader->Read(&event)) events.push_back(event);
    *status = reader->Finish();
    return events;
  }

  testing::TempDir temp_;
  std::shared_ptr<const AgentContext> context_;
  std::unique_ptr<AgentServer> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ModelVerifyTest, StreamsProgressAndEndsWithTheResult) {
  WriteModel("tinyllama", 10 << 20, /*sparse=*/false, /*manifest=*/true);
  WriteModel("qwen", 1000, /*sparse=*/false, /*manifest=*/false);
  grpc::Status status;
  std::vector<v1::OperationEvent> events = Verify({"tinyllama", "qwen"}, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_GE(events.size(), 2u);
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i].sequence(), i + 1);
    EXPECT_EQ(events[i].operation_id(), events[0].operation_id());
  }
  const v1::OperationEvent& last = events.back();
  ASSERT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED);
  v1::VerifyModelResult result;
  ASSERT_TRUE(last.result().UnpackTo(&result));
  ASSERT_EQ(result.models_size(), 2);
  EXPECT_TRUE(result.models(0).ok()) << result.models(0).files(0).problem();
  EXPECT_FALSE(result.models(1).ok());  // no manifest
  EXPECT_FALSE(result.ok());
  bool saw_full_progress = false;
  for (const v1::OperationEvent& event : events) {
    if (event.has_progress() && event.progress().done() == event.progress().total()) {
      saw_full_progress = true;
    }
  }
  EXPECT_TRUE(saw_full_progress);
}

TEST_F(ModelVerifyTest, LateWatcherGetsTheWholeHistory) {
  WriteModel("tinyllama", 1 << 20, false, true);
  grpc::Status status;
  std::vector<v1::OperationEvent> events = Verify({"tinyllama"}, &status);
  ASSERT_TRUE(status.ok());
  v1::WatchOperationRequest watch;
  watch.set_id(events[0].operation_id());
  grpc::ClientContext context;
  auto reader = v1::OperationService::NewStub(channel_)->WatchOperation(&context, watch);
  std::vector<v1::OperationEvent> replayed;
  v1::OperationEvent event;
  while (reader->Read(&event)) replayed.push_back(event);
  ASSERT_TRUE(reader->Finish().ok());
  ASSERT_EQ(replayed.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(replayed[i].SerializeAsString(), events[i].SerializeAsString());
  }
}

TEST_F(ModelVerifyTest, CancelStopsHashingALargeFilePromptly) {
  WriteModel("mistral", uint64_t{64} << 30, /*sparse=*/true, /*manifest=*/true);  // 64 GiB hole
  v1::VerifyModelRequest request;
  request.add_ids("mistral");
  grpc::ClientContext context;
  auto reader = v1::ModelService::NewStub(channel_)->VerifyModel(&context, request);
  v1::OperationEvent event;
  ASSERT_TRUE(reader->Read(&event));
  const std::string id = event.operation_id();
  // Cancel mid-hash, once a quarter GiB is done.
  while (reader->Read(&event) && !(event.has_progress() && event.progress().done() >= 256 << 20)) {
  }
  v1::CancelOperationRequest cancel;
  cancel.set_id(id);
  v1::Operation operation;
  grpc::ClientContext cancel_context;
  ASSERT_TRUE(v1::OperationService::NewStub(channel_)
                  ->CancelOperation(&cancel_context, cancel, &operation)
                  .ok());
  const uint64_t done_at_cancel = operation.progress().done();
  v1::OperationEvent last = event;
  while (reader->Read(&event)) last = event;
  ASSERT_TRUE(reader->Finish().ok());
  EXPECT_TRUE(last.final());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_CANCELLED);
  // The hashing stopped at its next check: within a few MiB of where the cancel found it (it
  // checks every 4 MiB), not at the end of the 64 GiB.
  v1::GetOperationRequest get;
  get.set_id(id);
  grpc::ClientContext get_context;
  ASSERT_TRUE(
      v1::OperationService::NewStub(channel_)->GetOperation(&get_context, get, &operation).ok());
  EXPECT_GE(done_at_cancel, uint64_t{256} << 20);
  EXPECT_LE(operation.progress().done(), done_at_cancel + (uint64_t{16} << 20));
}

TEST_F(ModelVerifyTest, AllWithNothingOnDiskSaysSo) {
  v1::VerifyModelRequest request;
  request.set_all(true);
  grpc::ClientContext context;
  auto reader = v1::ModelService::NewStub(channel_)->VerifyModel(&context, request);
  v1::OperationEvent event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("no model is on disk"));
}

}  // namespace
}  // namespace llorch
