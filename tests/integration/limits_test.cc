// The agent's limits as a caller meets them (docs/security.md, "Limits"): a real agent on
// 127.0.0.1 (--insecure: no token needed here) and a unix socket, with a stream limit of 3 per
// peer, called through generated stubs as an orchestrator would.
//   - a request message over the largest the server reads: RESOURCE_EXHAUSTED, nothing runs;
//   - a string or repeated field over its limit: INVALID_ARGUMENT naming the field and limit;
//   - a peer at its stream limit gets RESOURCE_EXHAUSTED (TOO_MANY_STREAMS) for one more stream,
//     on any of its connections, and starts no operation; its own unary calls and another
//     peer's calls and streams are served; a stream that ends frees its place.
#include <gmock/gmock.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/rpc/request_rules.h"
#include "common/address.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "llorch/pool/v1/git.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"
#include "tests/support/tree_snapshot.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::testing::HasSubstr;

constexpr int kStreamsPerPeer = 3;

// One WatchEvents stream, open once its headers came (the agent sends them when the watch is
// in place, or with the refusal).
struct Watch {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReader<v1::AgentEvent>> reader;

  explicit Watch(const std::shared_ptr<grpc::Channel>& channel,
                 std::chrono::seconds deadline = std::chrono::seconds(60)) {
    context.set_deadline(std::chrono::system_clock::now() + deadline);
    reader = v1::AgentService::NewStub(channel)->WatchEvents(&context, v1::WatchEventsRequest());
    reader->WaitForInitialMetadata();
  }
  // Ends an admitted stream: CANCELLED.
  grpc::Status End() {
    context.TryCancel();
    return reader->Finish();
  }
  // The status the agent ended the stream with (a refused stream ends at once; an admitted one
  // at its deadline).
  grpc::Status Finish() { return reader->Finish(); }
};

class LimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Config config;
    config.agent.max_streams_per_peer = kStreamsPerPeer;
    absl::StatusOr<Address> tcp = ParseAddress("127.0.0.1:0");
    ASSERT_TRUE(tcp.ok());
    const std::string socket = temp_.path() + "/run/agent.sock";
    absl::StatusOr<testing::TestAgent> agent = testing::StartTestAgent(
        temp_.path(), /*in_process=*/false, {*tcp, UnixAddress(socket)}, config, /*insecure=*/true);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = *std::move(agent);
    context_ = agent_.context;
    server_ = agent_.server.get();
    tcp_target_ = server_->BoundAddresses().at(0);
    tcp_ = NewConnection(tcp_target_);
    unix_ = NewConnection("unix:" + socket);
  }

  // A channel with a connection of its own (not shared with other channels to the target).
  static std::shared_ptr<grpc::Channel> NewConnection(const std::string& target) {
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), arguments);
  }

  static grpc::Status HostInfo(const std::shared_ptr<grpc::Channel>& channel) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    v1::HostInfo info;
    return v1::AgentService::NewStub(channel)->GetHostInfo(&context, v1::GetHostInfoRequest(),
                                                           &info);
  }

  testing::TempDir temp_;
  testing::TestAgent agent_;
  std::shared_ptr<const AgentContext> context_;
  AgentServer* server_ = nullptr;
  std::string tcp_target_;
  std::shared_ptr<grpc::Channel> tcp_;
  std::shared_ptr<grpc::Channel> unix_;
};

TEST_F(LimitsTest, ARequestMessageOverTheLargestIsRefusedBeforeItIsRead) {
  const auto before = testing::SnapshotTree(temp_.path());
  v1::UpdateSubmodulesRequest request;  // the field limits would allow 1024 names of 256 bytes
  while (request.ByteSizeLong() <= static_cast<size_t>(kMaxRequestMessageBytes)) {
    request.add_names(std::string(250, 'n'));
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = v1::GitService::NewStub(tcp_)->UpdateSubmodules(&context, request);
  v1::OperationEvent event;
  EXPECT_FALSE(reader->Read(&event));
  const grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << status.error_message();
  EXPECT_THAT(status.error_message(), HasSubstr("message larger than max"));
  EXPECT_TRUE(context_->operations->List().empty());
  EXPECT_EQ(testing::SnapshotTree(temp_.path()), before);
}

TEST_F(LimitsTest, FieldsOverTheirLimitsAreRefusedNamingFieldAndLimit) {
  v1::ListCatalogResponse catalog;
  grpc::ClientContext long_id;
  v1::ListCatalogRequest list;
  list.add_ids(std::string(kMaxRequestStringBytes + 1, 'a'));
  grpc::Status status = v1::ModelService::NewStub(tcp_)->ListCatalog(&long_id, list, &catalog);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "ids[0]: is 257 bytes long; at most 256 are accepted");
  EXPECT_EQ(testing::ErrorHintOf(status).metadata().at("field"), "ids[0]");

  grpc::ClientContext many_ids;
  v1::ListCatalogRequest many;
  for (int i = 0; i <= kMaxRequestRepeated; ++i) many.add_ids("tinyllama");
  status = v1::ModelService::NewStub(tcp_)->ListCatalog(&many_ids, many, &catalog);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "ids: has 257 entries; at most 256 are accepted");

  // A field with its own limit: a branch name may be 1024 bytes, not 1025.
  grpc::ClientContext long_branch;
  v1::SyncRequest sync;
  sync.set_branch(std::string(1025, 'b'));
  sync.set_preview_only(true);
  auto reader = v1::GitService::NewStub(tcp_)->Sync(&long_branch, sync);
  v1::OperationEvent event;
  EXPECT_FALSE(reader->Read(&event));
  status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "branch: is 1025 bytes long; at most 1024 are accepted");
  EXPECT_TRUE(context_->operations->List().empty());
}

TEST_F(LimitsTest, APeerAtItsStreamLimitDoesNotStopAnotherPeer) {
  std::vector<std::unique_ptr<Watch>> held;
  for (int i = 0; i < kStreamsPerPeer; ++i) held.push_back(std::make_unique<Watch>(tcp_));

  // One more from the same address, on the same connection or a new one: refused, and clearly.
  for (const auto& channel : {tcp_, NewConnection(tcp_target_)}) {
    Watch more(channel);
    const grpc::Status refused = more.Finish();
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << refused.error_message();
    EXPECT_THAT(refused.error_message(),
                HasSubstr("too many streaming calls from ipv4:127.0.0.1: it has 3 open"));
    EXPECT_THAT(refused.error_message(), HasSubstr("agent.max_streams_per_peer"));
    const v1::ErrorHint hint = testing::ErrorHintOf(refused);
    EXPECT_EQ(hint.reason(), "TOO_MANY_STREAMS");
    EXPECT_THAT(hint.hint(), HasSubstr("llorch-pool ops watch"));
  }
  // An operation is a stream too: refused before it starts, nothing on disk changes.
  const auto before = testing::SnapshotTree(temp_.path());
  {
    grpc::ClientContext context;
    v1::VerifyModelRequest verify;
    verify.add_ids(context_->catalog->models().front().id);
    auto reader = v1::ModelService::NewStub(tcp_)->VerifyModel(&context, verify);
    v1::OperationEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_TRUE(context_->operations->List().empty());
    EXPECT_EQ(testing::SnapshotTree(temp_.path()), before);
  }
  // Its unary calls are answered; so are another peer's calls, and its streams.
  EXPECT_TRUE(HostInfo(tcp_).ok());
  const grpc::Status other = HostInfo(unix_);
  EXPECT_TRUE(other.ok()) << other.error_message();
  {
    Watch other_watch(unix_);
    EXPECT_EQ(other_watch.End().error_code(), grpc::StatusCode::CANCELLED);
  }
  // The in-process channel (the CLI's own agent) is not counted.
  std::vector<std::unique_ptr<Watch>> in_process;
  for (int i = 0; i <= kStreamsPerPeer; ++i) {
    in_process.push_back(std::make_unique<Watch>(server_->InProcessChannel()));
  }
  for (auto& watch : in_process) EXPECT_EQ(watch->End().error_code(), grpc::StatusCode::CANCELLED);

  // A stream that ends frees its place (once the agent has seen it end).
  EXPECT_EQ(held.back()->End().error_code(), grpc::StatusCode::CANCELLED);
  held.pop_back();
  grpc::StatusCode again = grpc::StatusCode::RESOURCE_EXHAUSTED;
  for (int attempt = 0; attempt < 500 && again == grpc::StatusCode::RESOURCE_EXHAUSTED; ++attempt) {
    Watch watch(tcp_, std::chrono::seconds(1));  // admitted: it streams until its deadline
    again = watch.Finish().error_code();
    if (again == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  EXPECT_EQ(again, grpc::StatusCode::DEADLINE_EXCEEDED);
  for (auto& watch : held) watch->End();
}

}  // namespace
}  // namespace llorch
