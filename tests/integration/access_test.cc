// Who may call what on a TCP listener (agent/server/access.h): a real agent on 127.0.0.1 with an
// admin and a read-only token, every method it serves enumerated by server reflection and the
// proto descriptors, called by name as an orchestrator would.
#include "agent/server/access.h"

#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/token_file.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "tests/support/certificates.h"
#include "tests/support/grpc_probe.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

using ::testing::HasSubstr;

constexpr char kAdminToken[] = "admin-0123456789abcdef0123456789abcdef";
constexpr char kReadOnlyToken[] = "read-0123456789abcdef0123456789abcdef";

void WriteFile(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  ASSERT_EQ(chmod(path.c_str(), mode), 0);
}

// Calls `method` by name with an empty request: one message, then half-close; reads whatever
// comes until the end, within a deadline (watch methods stream until it).
grpc::Status CallByName(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                        const std::string& token) {
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
  auto next = [&cq] {
    void* tag = nullptr;
    bool ok = false;
    return cq.Next(&tag, &ok) && ok;
  };
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &cq);
  call->StartCall(nullptr);
  if (next()) {
    grpc::ByteBuffer empty;
    grpc::Slice nothing("");
    empty = grpc::ByteBuffer(&nothing, 1);
    call->Write(empty, nullptr);
    if (next()) {
      call->WritesDone(nullptr);
      next();
    }
    grpc::ByteBuffer response;
    for (int i = 0; i < 1000; ++i) {
      call->Read(&response, nullptr);
      if (!next()) break;
    }
  }
  grpc::Status status;
  call->Finish(&status, nullptr);
  next();
  return status;
}

// An agent under `root` with `config`, listening on 127.0.0.1 (a port the kernel picks).
void StartOnLoopback(const std::string& root, const Config& config, testing::TestAgent* agent) {
  absl::StatusOr<Address> tcp = ParseAddress("127.0.0.1:0");
  ASSERT_TRUE(tcp.ok());
  absl::StatusOr<testing::TestAgent> started =
      testing::StartTestAgent(root, /*in_process=*/false, {*tcp}, config);
  ASSERT_TRUE(started.ok()) << started.status();
  *agent = *std::move(started);
}

class AccessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(temp_.path() + "/admin.token", std::string(kAdminToken) + "\n", 0600);
    WriteFile(temp_.path() + "/read-only.token", kReadOnlyToken, 0640);
    Config config;
    config.agent.admin_token_file = temp_.path() + "/admin.token";
    config.agent.read_only_token_file = temp_.path() + "/read-only.token";
    ASSERT_NO_FATAL_FAILURE(StartOnLoopback(temp_.path(), config, &agent_));
    channel_ = grpc::CreateChannel(agent_.server->BoundAddresses().at(0),
                                   grpc::InsecureChannelCredentials());
  }

  // Every method the agent serves: the services server reflection lists (asked with the admin
  // token), each expanded into its methods by its descriptor; a service without a descriptor in
  // this binary (grpc.health.v1.Health: grpc++ has no .proto for it) by the table's entries.
  std::vector<std::string> ServedMethods() {
    std::vector<std::string> methods;
    absl::StatusOr<std::vector<std::string>> services =
        testing::ListServicesByReflection(AdminChannel());
    EXPECT_TRUE(services.ok()) << services.status();
    if (!services.ok()) return methods;
    EXPECT_GE(services->size(), 9u);
    for (const std::string& service : *services) {
      const google::protobuf::ServiceDescriptor* descriptor =
          google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(service);
      if (descriptor == nullptr) {
        const std::string prefix = absl::StrCat("/", service, "/");
        size_t found = 0;
        for (const auto& [method, role] : MethodRoles()) {
          if (absl::StartsWith(method, prefix)) {
            methods.push_back(method);
            ++found;
          }
        }
        EXPECT_GT(found, 0u) << service << " is served but none of its methods is classified";
        continue;
      }
      for (int i = 0; i < descriptor->method_count(); ++i) {
        methods.push_back(absl::StrCat("/", service, "/", descriptor->method(i)->name()));
      }
    }
    return methods;
  }

  // A channel whose every call carries the admin token (for the reflection helper).
  std::shared_ptr<grpc::Channel> AdminChannel();

  testing::TempDir temp_;
  testing::TestAgent agent_;
  std::shared_ptr<grpc::Channel> channel_;
};

class AdminInterceptor final : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert(
          {"authorization", absl::StrCat("Bearer ", kAdminToken)});
    }
    methods->Proceed();
  }
};
class AdminInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new AdminInterceptor();
  }
};

std::shared_ptr<grpc::Channel> AccessTest::AdminChannel() {
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<AdminInterceptorFactory>());
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      agent_.server->BoundAddresses().at(0), grpc::InsecureChannelCredentials(),
      grpc::ChannelArguments(), std::move(factories));
}

TEST(MethodRolesTest, EveryMethodOfEveryAgentServiceIsClassified) {
  // The agent's own services, from their descriptors: a new RPC fails here until it is in the
  // table.
  std::set<std::string> served;
  for (const char* name : {"llorch.pool.v1.ModelService", "llorch.pool.v1.GitService",
                           "llorch.pool.v1.WorkerService", "llorch.pool.v1.DevService",
                           "llorch.pool.v1.OperationService", "llorch.pool.v1.AgentService"}) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    ASSERT_NE(service, nullptr) << name;
    for (int i = 0; i < service->method_count(); ++i) {
      const std::string path = absl::StrCat("/", name, "/", service->method(i)->name());
      served.insert(path);
      EXPECT_TRUE(RequiredRole(path).has_value()) << path << " is not in MethodRoles()";
    }
  }
  // And the table names nothing that does not exist (a renamed RPC leaves no stale entry).
  for (const auto& [method, role] : MethodRoles()) {
    if (absl::StartsWith(method, "/llorch.")) {
      EXPECT_TRUE(served.count(method)) << method;
    }
  }
  EXPECT_EQ(RequiredRole("/llorch.pool.v1.ModelService/Nonexistent"), std::nullopt);
  EXPECT_EQ(RequiredRole("/llorch.pool.v1.ModelService/DeleteModel"), Role::kAdmin);
  EXPECT_EQ(RequiredRole("/llorch.pool.v1.ModelService/ListModels"), Role::kReadOnly);
}

TEST_F(AccessTest, EveryMethodWithoutATokenIsUnauthenticated) {
  const std::vector<std::string> methods = ServedMethods();
  ASSERT_GE(methods.size(), 30u);
  for (const std::string& method : methods) {
    grpc::Status status = CallByName(channel_, method, "");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_THAT(status.error_message(), HasSubstr("authorization: Bearer")) << method;
  }
}

TEST_F(AccessTest, EveryMethodWithAWrongTokenIsUnauthenticated) {
  for (const std::string& method : ServedMethods()) {
    grpc::Status status = CallByName(channel_, method, "not-the-token-0123456789abcdef");
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_EQ(status.error_message(), "the token is not one this agent accepts") << method;
  }
}

TEST_F(AccessTest, TheReadOnlyTokenReadsAndIsDeniedEveryMutatingMethod) {
  size_t denied = 0;
  size_t reads = 0;
  for (const std::string& method : ServedMethods()) {
    grpc::Status status = CallByName(channel_, method, kReadOnlyToken);
    if (RequiredRole(method) == Role::kReadOnly) {
      ++reads;
      EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
      EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
    } else {
      ++denied;
      EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
      EXPECT_THAT(status.error_message(), HasSubstr("needs the admin role")) << method;
    }
  }
  EXPECT_GE(denied, 10u);
  EXPECT_GE(reads, 10u);
  // A read the service answers in full.
  pool::v1::HostInfo info;
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kReadOnlyToken));
  grpc::Status status = pool::v1::AgentService::NewStub(channel_)->GetHostInfo(
      &context, pool::v1::GetHostInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(info.insecure());
}

TEST_F(AccessTest, TheAdminTokenReachesMutatingMethods) {
  // The service itself answers: an empty DeleteModelRequest is the service's INVALID_ARGUMENT,
  // and deleting a model that is not there its NOT_FOUND; nothing is refused for access.
  for (const std::string& method : ServedMethods()) {
    if (RequiredRole(method) != Role::kReadOnly) continue;
    grpc::Status status = CallByName(channel_, method, kAdminToken);
    EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
    EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
  }
  grpc::Status empty =
      CallByName(channel_, "/llorch.pool.v1.ModelService/DeleteModel", kAdminToken);
  EXPECT_EQ(empty.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << empty.error_message();
  grpc::Status cancel =
      CallByName(channel_, "/llorch.pool.v1.OperationService/CancelOperation", kAdminToken);
  EXPECT_EQ(cancel.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << cancel.error_message();
}

// What `nobody` did before tokens: delete root's model over loopback TCP.
TEST_F(AccessTest, OnlyTheAdminTokenDeletesAModel) {
  const std::string model = temp_.path() + "/models/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf";
  std::filesystem::create_directories(std::filesystem::path(model).parent_path());
  std::ofstream(model) << "GGUF";
  auto remove = [&](const std::string& token) {
    pool::v1::DeleteModelRequest request;
    request.set_id("qwen");
    pool::v1::DeleteModelResponse response;
    grpc::ClientContext context;
    if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return pool::v1::ModelService::NewStub(channel_)->DeleteModel(&context, request, &response);
  };
  EXPECT_EQ(remove("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(remove(kReadOnlyToken).error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(std::filesystem::exists(model));
  grpc::Status removed = remove(kAdminToken);
  EXPECT_TRUE(removed.ok()) << removed.error_message();
  EXPECT_FALSE(std::filesystem::exists(model));
}

// A Hub token passed with the request (x-llorch-hub-token) is no credential for the agent: a
// read-only caller still cannot download, and nothing starts.
TEST_F(AccessTest, AHubTokenDoesNotLetAReadOnlyCallerDownload) {
  pool::v1::DownloadModelRequest request;
  request.add_ids("tinyllama");
  grpc::ClientContext context;
  context.AddMetadata("authorization", absl::StrCat("Bearer ", kReadOnlyToken));
  context.AddMetadata("x-llorch-hub-token", "hf_caller0123456789abcdef");
  auto stream = pool::v1::ModelService::NewStub(channel_)->DownloadModel(&context, request);
  pool::v1::OperationEvent event;
  EXPECT_FALSE(stream->Read(&event));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_TRUE(agent_.context->operations->List().empty());
}

TEST_F(AccessTest, TheUnixSocketAndInProcessChannelNeedNoToken) {
  pool::v1::HostInfo info;
  grpc::ClientContext context;
  grpc::Status status = pool::v1::AgentService::NewStub(agent_.server->InProcessChannel())
                            ->GetHostInfo(&context, pool::v1::GetHostInfoRequest(), &info);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

class AccessStartTest : public ::testing::Test {
 protected:
  absl::Status Start(Config config, bool insecure = false) {
    absl::StatusOr<Address> tcp = ParseAddress("127.0.0.1:0");
    if (!tcp.ok()) return tcp.status();
    return Start(config, {*tcp}, insecure);
  }
  absl::Status Start(Config config, const std::vector<Address>& listeners, bool insecure) {
    config.models_dir = temp_.path() + "/models";
    config.state_dir = temp_.path() + "/state";
    absl::StatusOr<std::shared_ptr<const AgentContext>> context =
        AgentContext::Create(config, temp_.path(), /*in_process=*/false);
    if (!context.ok()) return context.status();
    absl::StatusOr<std::unique_ptr<AgentServer>> server =
        AgentServer::Start(*context, listeners, insecure);
    if (!server.ok()) return server.status();
    server_ = *std::move(server);
    return absl::OkStatus();
  }
  testing::TempDir temp_;
  std::unique_ptr<AgentServer> server_;
};

TEST_F(AccessStartTest, LoopbackTcpWithoutATokenIsRefusedUnlessInsecure) {
  absl::Status refused = Start(Config());
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("without authentication"));
  EXPECT_THAT(GetHint(refused).value_or(""), HasSubstr("agent.admin_token_file"));

  ASSERT_TRUE(Start(Config(), /*insecure=*/true).ok());
  auto channel =
      grpc::CreateChannel(server_->BoundAddresses().at(0), grpc::InsecureChannelCredentials());
  pool::v1::HostInfo info;
  grpc::ClientContext context;
  grpc::Status status = pool::v1::AgentService::NewStub(channel)->GetHostInfo(
      &context, pool::v1::GetHostInfoRequest(), &info);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(info.insecure());
}

TEST_F(AccessStartTest, TheSocketBelongsToTheConfiguredGroup) {
  const std::string socket = temp_.path() + "/run/agent.sock";
  Config config;
  config.agent.socket_group = "no-such-group-for-llorch";
  absl::Status unknown = Start(config, {UnixAddress(socket)}, false);
  EXPECT_EQ(unknown.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(unknown.message(), HasSubstr("agent.socket_group: no group"));
  // A group other than the agent's own: root may give any, others one they are a member of.
  gid_t groups[64];
  const int count = getgroups(64, groups);
  std::optional<gid_t> other;
  if (geteuid() == 0) other = 65534;  // nogroup
  for (int i = 0; i < count && !other; ++i) {
    if (groups[i] != getegid()) other = groups[i];
  }
  if (!other) GTEST_SKIP() << "this user is a member of no other group";
  config.agent.socket_group = std::to_string(*other);
  ASSERT_TRUE(Start(config, {UnixAddress(socket)}, false).ok());
  struct stat info {};
  ASSERT_EQ(lstat(socket.c_str(), &info), 0);
  EXPECT_EQ(info.st_gid, *other);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
}

TEST_F(AccessStartTest, TheReadOnlySocketReadsAndIsDeniedEveryMutatingMethodTokenOrNot) {
  const std::string path = temp_.path() + "/admin.token";
  WriteFile(path, kAdminToken, 0600);
  Config config;
  config.agent.admin_token_file = path;
  config.agent.read_only_socket = temp_.path() + "/run/read-only.sock";
  ASSERT_TRUE(Start(config, {UnixAddress(temp_.path() + "/run/agent.sock")}, false).ok());
  EXPECT_THAT(server_->BoundAddresses(),
              ::testing::Contains("unix:" + config.agent.read_only_socket));
  struct stat info {};
  ASSERT_EQ(lstat(config.agent.read_only_socket.c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  auto channel = grpc::CreateChannel("unix:" + config.agent.read_only_socket,
                                     grpc::InsecureChannelCredentials());
  for (const auto& [method, role] : MethodRoles()) {
    for (const std::string token : {"", kAdminToken}) {
      grpc::Status status = CallByName(channel, method, token);
      if (role == Role::kReadOnly) {
        EXPECT_NE(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
        EXPECT_NE(status.error_code(), grpc::StatusCode::UNAUTHENTICATED) << method;
      } else {
        EXPECT_EQ(status.error_code(), grpc::StatusCode::PERMISSION_DENIED) << method;
      }
    }
  }
  // The main socket stays admin for its group.
  grpc::Status admin = CallByName(grpc::CreateChannel("unix:" + temp_.path() + "/run/agent.sock",
                                                      grpc::InsecureChannelCredentials()),
                                  "/llorch.pool.v1.ModelService/DeleteModel", "");
  EXPECT_EQ(admin.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << admin.error_message();
}

TEST_F(AccessStartTest, AWorldReadableTokenFileIsRefusedWithTheFix) {
  const std::string path = temp_.path() + "/admin.token";
  WriteFile(path, kAdminToken, 0644);
  Config config;
  config.agent.admin_token_file = path;
  absl::Status refused = Start(config);
  EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.message(), HasSubstr("agent.admin_token_file"));
  EXPECT_THAT(refused.message(), HasSubstr("mode 0644"));
  EXPECT_EQ(GetHint(refused).value_or(""),
            absl::StrCat("chmod 600 ", path, " (or 640 with a group that needs it)"));
}

TEST_F(AccessStartTest, AShortTokenOrTheSameTokenForBothRolesIsRefused) {
  WriteFile(temp_.path() + "/short.token", "abc\n", 0600);
  Config config;
  config.agent.admin_token_file = temp_.path() + "/short.token";
  EXPECT_THAT(Start(config).message(), HasSubstr("at least 16 printable characters"));

  WriteFile(temp_.path() + "/a.token", kAdminToken, 0600);
  WriteFile(temp_.path() + "/b.token", kAdminToken, 0600);
  config.agent.admin_token_file = temp_.path() + "/a.token";
  config.agent.read_only_token_file = temp_.path() + "/b.token";
  EXPECT_THAT(Start(config).message(), HasSubstr("hold the same token"));
}

// --- TLS and mutual TLS -----------------------------------------------------------------------

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

class TlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(testing::MakeCertificate(temp_.path(), "ca", "server", "server"));
    ASSERT_NO_FATAL_FAILURE(testing::MakeCertificate(temp_.path(), "ca", "client", "client"));
    ASSERT_NO_FATAL_FAILURE(testing::MakeCertificate(temp_.path(), "rogue-ca", "rogue", "client"));
    WriteFile(temp_.path() + "/admin.token", kAdminToken, 0600);
  }

  void Start(Config config) {
    config.agent.tls_cert_file = temp_.path() + "/server.pem";
    config.agent.tls_key_file = temp_.path() + "/server.key";
    ASSERT_NO_FATAL_FAILURE(StartOnLoopback(temp_.path(), config, &agent_));
  }

  // A TLS channel trusting `ca`, presenting `client`'s certificate unless it is "".
  std::shared_ptr<grpc::Channel> Channel(const std::string& ca, const std::string& client) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = ReadText(temp_.path() + "/" + ca + ".pem");
    if (!client.empty()) {
      options.pem_cert_chain = ReadText(temp_.path() + "/" + client + ".pem");
      options.pem_private_key = ReadText(temp_.path() + "/" + client + ".key");
    }
    // A fresh connection every time: channels with equal arguments would share one.
    grpc::ChannelArguments arguments;
    arguments.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    return grpc::CreateCustomChannel(agent_.server->BoundAddresses().at(0),
                                     grpc::SslCredentials(options), arguments);
  }

  grpc::Status Info(const std::shared_ptr<grpc::Channel>& channel, const std::string& token = "") {
    pool::v1::HostInfo info;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!token.empty()) context.AddMetadata("authorization", absl::StrCat("Bearer ", token));
    return pool::v1::AgentService::NewStub(channel)->GetHostInfo(
        &context, pool::v1::GetHostInfoRequest(), &info);
  }

  testing::TempDir temp_;
  testing::TestAgent agent_;
};

TEST_F(TlsTest, TlsWithATokenAndPlaintextRefused) {
  Config config;
  config.agent.admin_token_file = temp_.path() + "/admin.token";
  ASSERT_NO_FATAL_FAILURE(Start(config));
  EXPECT_TRUE(Info(Channel("ca", ""), kAdminToken).ok());
  EXPECT_EQ(Info(Channel("ca", "")).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  // A client that does not trust the agent's CA, or speaks plaintext, gets nowhere.
  EXPECT_EQ(Info(Channel("rogue-ca", ""), kAdminToken).error_code(), grpc::StatusCode::UNAVAILABLE);
  auto plaintext = grpc::CreateChannel(agent_.server->BoundAddresses().at(0),
                                       grpc::InsecureChannelCredentials());
  EXPECT_EQ(Info(plaintext, kAdminToken).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsAdmitsOnlyVerifiedClientCertificatesWithTheirRole) {
  Config config;
  config.agent.admin_token_file = temp_.path() + "/admin.token";
  config.agent.tls_client_ca_file = temp_.path() + "/ca.pem";
  ASSERT_NO_FATAL_FAILURE(Start(config));
  // A good certificate without a token: the read-only role (agent.client_cert_role).
  EXPECT_TRUE(Info(Channel("ca", "client")).ok());
  grpc::Status denied =
      CallByName(Channel("ca", "client"), "/llorch.pool.v1.ModelService/DeleteModel", "");
  EXPECT_EQ(denied.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  // With the admin token on top: admin (the service answers the empty request itself).
  grpc::Status admin =
      CallByName(Channel("ca", "client"), "/llorch.pool.v1.ModelService/DeleteModel", kAdminToken);
  EXPECT_EQ(admin.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << admin.error_message();
  // No certificate, or one the client CA did not sign: the handshake fails, token or not.
  EXPECT_EQ(Info(Channel("ca", ""), kAdminToken).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Info(Channel("ca", "rogue"), kAdminToken).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MutualTlsAloneIsEnoughToListenAndCanGrantAdmin) {
  Config config;
  config.agent.tls_client_ca_file = temp_.path() + "/ca.pem";
  config.agent.client_cert_role = "admin";
  ASSERT_NO_FATAL_FAILURE(Start(config));
  grpc::Status admin =
      CallByName(Channel("ca", "client"), "/llorch.pool.v1.ModelService/DeleteModel", "");
  EXPECT_EQ(admin.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << admin.error_message();
}

TEST_F(TlsTest, ANewCertificateIsServedWithoutARestart) {
  Config config;
  config.agent.admin_token_file = temp_.path() + "/admin.token";
  config.agent.tls_reload_seconds = 1;
  ASSERT_NO_FATAL_FAILURE(Start(config));
  ASSERT_TRUE(Info(Channel("ca", ""), kAdminToken).ok());
  // The operator renews the certificate, from another CA here so that the change shows.
  ASSERT_NO_FATAL_FAILURE(testing::MakeCertificate(temp_.path(), "new-ca", "renewed", "server"));
  std::filesystem::rename(temp_.path() + "/renewed.key", temp_.path() + "/server.key");
  std::filesystem::rename(temp_.path() + "/renewed.pem", temp_.path() + "/server.pem");
  EXPECT_TRUE(testing::WaitFor([&] { return Info(Channel("new-ca", ""), kAdminToken).ok(); }, 60));
  EXPECT_EQ(Info(Channel("ca", ""), kAdminToken).error_code(), grpc::StatusCode::UNAVAILABLE);
}

TEST_F(TlsTest, MissingOrExposedKeyStopsTheStart) {
  Config config;
  config.agent.admin_token_file = temp_.path() + "/admin.token";
  config.agent.tls_cert_file = temp_.path() + "/server.pem";
  config.agent.tls_key_file = temp_.path() + "/server.key";
  ASSERT_EQ(chmod((temp_.path() + "/server.key").c_str(), 0644), 0);
  absl::StatusOr<ListenerSecurity> exposed = LoadListenerSecurity(config.agent, temp_.path());
  ASSERT_FALSE(exposed.ok());
  EXPECT_THAT(exposed.status().message(), HasSubstr("a private key must not be readable"));
  config.agent.tls_key_file = "";
  absl::StatusOr<ListenerSecurity> half = LoadListenerSecurity(config.agent, temp_.path());
  ASSERT_FALSE(half.ok());
  EXPECT_THAT(half.status().message(), HasSubstr("needs both agent.tls_cert_file"));
}

// A key that is not the certificate's would fail every handshake without saying why: the start
// stops and names both settings.
TEST_F(TlsTest, AKeyOfAnotherCertificateStopsTheStart) {
  Config config;
  config.agent.admin_token_file = temp_.path() + "/admin.token";
  config.agent.tls_cert_file = temp_.path() + "/server.pem";
  config.agent.tls_key_file = temp_.path() + "/client.key";
  absl::StatusOr<ListenerSecurity> foreign = LoadListenerSecurity(config.agent, temp_.path());
  ASSERT_FALSE(foreign.ok());
  EXPECT_EQ(foreign.status().message(),
            absl::StrCat("agent.tls_key_file: ", temp_.path(),
                         "/client.key is not the key of the certificate in ", temp_.path(),
                         "/server.pem (agent.tls_cert_file)"));
}

TEST(TokenTest, ConstantTimeEqualsComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("abcdef", "abcdef"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcdeg"));
  EXPECT_FALSE(ConstantTimeEquals("abcdef", "abcde"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  AccessTokens tokens{kAdminToken, ""};
  EXPECT_EQ(RoleOfAuthorization(tokens, absl::StrCat("Bearer ", kAdminToken)), Role::kAdmin);
  EXPECT_EQ(RoleOfAuthorization(tokens, kAdminToken), std::nullopt);  // no scheme
  EXPECT_EQ(RoleOfAuthorization(tokens, "Bearer "), std::nullopt);    // the empty read-only one
}

}  // namespace
}  // namespace llorch
