// The agent's services over a real unix socket and over the in-process channel: same answers,
// health and reflection served, later-release RPCs honest about it.
#include "agent/server/agent_server.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/create_channel.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "client/connection.h"
#include "common/status.h"
#include "grpc/reflection/v1/reflection.grpc.pb.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "llorch/pool/v1/dev.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/worker.grpc.pb.h"
#include "tests/support/grpc_probe.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;
namespace v1 = pool::v1;

class AgentServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    socket_ = temp_.path() + "/run/agent.sock";
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/false, {UnixAddress(socket_)});
    ASSERT_TRUE(agent.ok()) << agent.status();
    context_ = agent->context;
    server_ = std::move(agent->server);
    socket_channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    in_process_channel_ = server_->InProcessChannel();
  }

  std::vector<std::shared_ptr<grpc::Channel>> Channels() const {
    return {socket_channel_, in_process_channel_};
  }

  testing::TempDir temp_;
  std::shared_ptr<const AgentContext> context_;
  std::string socket_;
  std::unique_ptr<AgentServer> server_;
  std::shared_ptr<grpc::Channel> socket_channel_;
  std::shared_ptr<grpc::Channel> in_process_channel_;
};

v1::ListCatalogResponse ListCatalog(const std::shared_ptr<grpc::Channel>& channel,
                                    std::vector<std::string> ids = {}) {
  v1::ListCatalogRequest request;
  for (const std::string& id : ids) request.add_ids(id);
  v1::ListCatalogResponse response;
  grpc::ClientContext context;
  grpc::Status status =
      v1::ModelService::NewStub(channel)->ListCatalog(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return response;
}

TEST_F(AgentServerTest, SocketAndInProcessChannelsGiveIdenticalCatalogs) {
  std::filesystem::create_directories(temp_.path() + "/models/qwen");
  std::ofstream(temp_.path() + "/models/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf") << "GGUF";
  v1::ListCatalogResponse over_socket = ListCatalog(socket_channel_);
  v1::ListCatalogResponse in_process = ListCatalog(in_process_channel_);
  ASSERT_EQ(over_socket.entries_size(), 10);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(over_socket, in_process));
  EXPECT_EQ(over_socket.entries(1).model().id(), "qwen");
  EXPECT_EQ(over_socket.entries(1).state(), v1::DOWNLOAD_STATE_UNVERIFIED);
  EXPECT_EQ(over_socket.entries(1).local_bytes(), 4u);
  EXPECT_EQ(over_socket.entries(2).state(), v1::DOWNLOAD_STATE_NOT_DOWNLOADED);
  EXPECT_EQ(over_socket.entries(8).model().conversion().output_type(), "f32");
  EXPECT_EQ(over_socket.models_dir(), temp_.path() + "/models");
}

TEST_F(AgentServerTest, CatalogFilterKeepsRequestOrder) {
  v1::ListCatalogResponse response = ListCatalog(socket_channel_, {"granite", "qwen"});
  ASSERT_EQ(response.entries_size(), 2);
  EXPECT_EQ(response.entries(0).model().id(), "granite");
  EXPECT_EQ(response.entries(1).model().id(), "qwen");
}

TEST_F(AgentServerTest, SocketIsGroupOnly) {
  EXPECT_EQ(std::filesystem::status(socket_).permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0660));
}

TEST_F(AgentServerTest, HostInfoAgreesExceptForHowItIsReached) {
  for (const auto& channel : Channels()) {
    v1::HostInfo info;
    grpc::ClientContext context;
    ASSERT_TRUE(v1::AgentService::NewStub(channel)
                    ->GetHostInfo(&context, v1::GetHostInfoRequest(), &info)
                    .ok());
    EXPECT_EQ(info.api_version(), "llorch.pool.v1");
    EXPECT_EQ(info.models_dir(), temp_.path() + "/models");
    EXPECT_EQ(info.state_dir(), temp_.path() + "/state");
    EXPECT_EQ(info.pid(), getpid());
    EXPECT_GT(info.cpu_count(), 0u);
    EXPECT_GT(info.memory_bytes(), 0u);
    ASSERT_EQ(info.listen_addresses_size(), 1);
    EXPECT_EQ(info.listen_addresses(0), "unix:" + socket_);
    // What the host can run, over either channel.
    ASSERT_EQ(info.backends_size(), 3);
    EXPECT_EQ(info.backends(0).backend(), v1::BACKEND_CPU);
    EXPECT_TRUE(info.backends(0).supported());
    EXPECT_EQ(info.backends(0).program(), "llorch-cpu-candled");
    EXPECT_NE(info.gpus().source(), v1::GPU_SOURCE_NVML);  // LLORCH_NVML_LIBRARY=none in tests
    EXPECT_THAT(info.gpus().nvml_problem(), HasSubstr("LLORCH_NVML_LIBRARY=none"));
    EXPECT_EQ(info.models_disk().path(), temp_.path() + "/models");
    EXPECT_GT(info.models_disk().total_bytes(), 0u);
    EXPECT_EQ(info.live_workers(), 0u);
  }
}

TEST_F(AgentServerTest, HealthServiceAnswersServing) {
  for (const auto& channel : Channels()) {
    absl::StatusOr<int> serving = testing::CheckHealth(channel, "");
    ASSERT_TRUE(serving.ok()) << serving.status();
    EXPECT_EQ(*serving, 1);  // SERVING
  }
  absl::StatusOr<int> model_service =
      testing::CheckHealth(socket_channel_, "llorch.pool.v1.ModelService");
  ASSERT_TRUE(model_service.ok()) << model_service.status();
  EXPECT_EQ(*model_service, 1);
}

TEST_F(AgentServerTest, EveryServiceIsServing) {
  for (const auto& [service, expected] :
       std::vector<std::pair<std::string, int>>{{"llorch.pool.v1.ModelService", 1},
                                                {"llorch.pool.v1.GitService", 1},
                                                {"llorch.pool.v1.WorkerService", 1},
                                                {"llorch.pool.v1.DevService", 1},
                                                {"llorch.pool.v1.OperationService", 1},
                                                {"llorch.pool.v1.AgentService", 1}}) {
    absl::StatusOr<int> serving = testing::CheckHealth(socket_channel_, service);
    ASSERT_TRUE(serving.ok()) << service << ": " << serving.status();
    EXPECT_EQ(*serving, expected) << service;  // 1 SERVING, 2 NOT_SERVING
  }
}

TEST_F(AgentServerTest, StoppingTurnsHealthNotServingWhileCallsAreStillServed) {
  testing::HealthWatch server_health(socket_channel_, "");
  testing::HealthWatch model_health(socket_channel_, "llorch.pool.v1.ModelService");
  EXPECT_EQ(server_health.Next().value_or(-1), 1);
  EXPECT_EQ(model_health.Next().value_or(-1), 1);

  server_->StopServing();
  EXPECT_EQ(server_health.Next().value_or(-1), 2);
  EXPECT_EQ(model_health.Next().value_or(-1), 2);
  // The listener still answers, health and everything else.
  auto fresh = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
  EXPECT_EQ(testing::CheckHealth(fresh, "").value_or(-1), 2);
  EXPECT_EQ(testing::CheckHealth(fresh, "llorch.pool.v1.OperationService").value_or(-1), 2);
  EXPECT_EQ(ListCatalog(fresh, {"qwen"}).entries_size(), 1);
}

TEST_F(AgentServerTest, ReflectionListsEveryService) {
  absl::StatusOr<std::vector<std::string>> services =
      testing::ListServicesByReflection(socket_channel_);
  ASSERT_TRUE(services.ok()) << services.status();
  EXPECT_THAT(*services, UnorderedElementsAre(
                             "llorch.pool.v1.ModelService", "llorch.pool.v1.GitService",
                             "llorch.pool.v1.WorkerService", "llorch.pool.v1.DevService",
                             "llorch.pool.v1.OperationService", "llorch.pool.v1.AgentService",
                             "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection",
                             "grpc.reflection.v1.ServerReflection"));
}

TEST_F(AgentServerTest, ReflectionV1ListsTheServicesAndSendsTheirFiles) {
  namespace reflection = grpc::reflection::v1;
  grpc::ClientContext context;
  auto stream =
      reflection::ServerReflection::NewStub(socket_channel_)->ServerReflectionInfo(&context);
  reflection::ServerReflectionRequest list;
  list.set_list_services("");
  ASSERT_TRUE(stream->Write(list));
  reflection::ServerReflectionResponse listed;
  ASSERT_TRUE(stream->Read(&listed));
  std::vector<std::string> names;
  for (const auto& service : listed.list_services_response().service()) {
    names.push_back(service.name());
  }
  EXPECT_THAT(names, ::testing::IsSupersetOf({"llorch.pool.v1.ModelService",
                                              "llorch.pool.v1.OperationService",
                                              "grpc.reflection.v1.ServerReflection"}));

  reflection::ServerReflectionRequest symbol;
  symbol.set_file_containing_symbol("llorch.pool.v1.ModelService");
  ASSERT_TRUE(stream->Write(symbol));
  reflection::ServerReflectionResponse file;
  ASSERT_TRUE(stream->Read(&file));
  EXPECT_EQ(file.original_request().file_containing_symbol(), "llorch.pool.v1.ModelService");
  ASSERT_GT(file.file_descriptor_response().file_descriptor_proto_size(), 0);
  google::protobuf::FileDescriptorProto model_proto;
  ASSERT_TRUE(
      model_proto.ParseFromString(file.file_descriptor_response().file_descriptor_proto(0)));
  EXPECT_EQ(model_proto.name(), "llorch/pool/v1/model.proto");
  EXPECT_EQ(model_proto.service(0).name(), "ModelService");

  reflection::ServerReflectionRequest unknown;
  unknown.set_file_containing_symbol("llorch.pool.v1.NoSuchService");
  ASSERT_TRUE(stream->Write(unknown));
  reflection::ServerReflectionResponse error;
  ASSERT_TRUE(stream->Read(&error));
  EXPECT_EQ(error.error_response().error_code(), grpc::StatusCode::NOT_FOUND);

  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(AgentServerTest, UnknownModelIdIsNotFoundBeforeAnythingElse) {
  v1::DownloadModelRequest request;
  request.add_ids("tinyllama");
  request.add_ids("mistrall");
  grpc::ClientContext context;
  auto reader = v1::ModelService::NewStub(socket_channel_)->DownloadModel(&context, request);
  v1::OperationEvent event;
  EXPECT_FALSE(reader->Read(&event));
  grpc::Status status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_message(), "unknown model 'mistrall' (did you mean 'mistral'?)");
}

TEST_F(AgentServerTest, SecondServerOnTheSameSocketIsRefused) {
  absl::StatusOr<std::unique_ptr<AgentServer>> second =
      AgentServer::Start(context_, {UnixAddress(socket_)});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(second.status().message(), HasSubstr("another agent is already listening"));
}

TEST_F(AgentServerTest, ShutdownRemovesTheSocket) {
  server_->Shutdown(absl::Seconds(1));
  server_->Wait();
  EXPECT_FALSE(std::filesystem::exists(socket_));
}

TEST_F(AgentServerTest, NonLoopbackTcpNeedsInsecure) {
  absl::StatusOr<Address> open = ParseAddress("0.0.0.0:0");
  ASSERT_TRUE(open.ok());
  absl::StatusOr<std::unique_ptr<AgentServer>> refused = AgentServer::Start(context_, {*open});
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("without TLS"));
}

TEST_F(AgentServerTest, TheCliTrustsAnAgentOfItsOwnUserOrRoot) {
  EXPECT_TRUE(CheckAgentSocket(socket_, geteuid()).ok());
  // Root's agent, in root's directory, serves every user who may connect.
  if (geteuid() == 0) {
    EXPECT_TRUE(CheckAgentSocket(socket_, 1000).ok());
  }
  EXPECT_TRUE(absl::IsNotFound(CheckAgentSocket(temp_.path() + "/run/none.sock", geteuid())));
}

// A socket in a directory only root can change, whose listener switched to another user before
// listen(2): only the peer's credentials (SO_PEERCRED) tell.
TEST(AgentSocketTest, AListenerRunningAsAnotherUserIsNotTrusted) {
  if (geteuid() != 0) GTEST_SKIP() << "switching users needs root";
  testing::TempDir temp;
  const std::string path = temp.path() + "/agent.sock";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  ASSERT_LT(path.size(), sizeof(address.sun_path));
  std::memcpy(address.sun_path, path.data(), path.size());
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {  // only async-signal-safe calls after fork
    if (setgid(65534) != 0 || setuid(65534) != 0 || listen(fd, 8) != 0) _exit(1);
    for (;;) pause();
  }
  close(fd);
  ASSERT_TRUE(testing::WaitFor([&] { return UnixSocketAccepts(path); }));
  absl::Status status = CheckAgentSocket(path, 0);
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(status.message(), HasSubstr("not trusting the agent at unix:" + path +
                                          ": the process listening on it runs as nobody (uid "
                                          "65534), not as root"));
  EXPECT_THAT(GetHint(status).value_or(""), HasSubstr("--standalone"));
}

}  // namespace
}  // namespace llorch
