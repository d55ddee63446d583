// pool-agent as an operator runs it, and llorch-pool finding and using it.
#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/address.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/certificates.h"
#include "tests/support/error_details.h"
#include "tests/support/grpc_probe.h"

namespace llorch::testing {
namespace {

namespace v1 = pool::v1;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class AgentE2eTest : public ::testing::Test {
 protected:
  // Starts pool-agent with `args`, waiting until `socket` accepts connections.
  std::unique_ptr<BackgroundProcess> StartAgent(const std::vector<std::string>& args,
                                                const std::string& socket) {
    std::vector<std::string> argv = {InstalledBinary("pool-agent")};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = env_.Path("work");
    auto agent = std::make_unique<BackgroundProcess>(argv, options, log_path());
    EXPECT_TRUE(WaitFor([&] { return UnixSocketAccepts(socket); })) << ReadFile(log_path());
    return agent;
  }
  std::string log_path() const { return env_.Path("agent.log"); }
  std::string default_socket() const { return env_.Path("run/llorch/pool-agent.sock"); }
  std::string tinyllama_file() const {
    return env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf";
  }
  // A tinyllama that takes far longer to hash than any test (64 GiB, sparse).
  void WriteALongTinyllama() const {
    std::filesystem::create_directories(std::filesystem::path(tinyllama_file()).parent_path());
    std::ofstream(tinyllama_file()) << "GGUF";
    std::filesystem::resize_file(tinyllama_file(), uint64_t{64} << 30);
  }
  // A tinyllama whose manifest's SHA-256 is not its file's: its verify fails at once.
  void WriteTinyllamaWithAWrongManifest() const {
    const std::filesystem::path dir = std::filesystem::path(tinyllama_file()).parent_path();
    std::filesystem::create_directories(dir / ".llorch");
    std::ofstream(tinyllama_file()) << "GGUF";
    std::ofstream(dir / ".llorch/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf.manifest.json")
        << R"({"size": 4, "sha256": "0000000000000000000000000000000000000000000000000000000000000000"})";
  }

  E2eEnvironment env_;
};

TEST_F(AgentE2eTest, ListensOnTheDefaultSocketAndTheCliFindsIt) {
  auto agent = StartAgent({}, default_socket());
  EXPECT_EQ(std::filesystem::status(default_socket()).permissions() & std::filesystem::perms::all,
            std::filesystem::perms(0660));

  CommandResult info = env_.Run({"-v", "agent", "info", "-o", "json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.err, HasSubstr("using agent at unix:" + default_socket() + " (default socket)"));
  nlohmann::json json = nlohmann::json::parse(info.out);
  EXPECT_EQ(json["in_process"], false);
  EXPECT_EQ(json["pid"], agent->pid());  // 64-bit integers are JSON numbers

  // The agent and the in-process agent answer the same.
  CommandResult via_agent = env_.Run({"models", "catalog", "-o", "json"});
  CommandResult standalone = env_.Run({"models", "catalog", "-o", "json", "--standalone"});
  ASSERT_EQ(via_agent.exit_code, 0) << via_agent.err;
  ASSERT_EQ(standalone.exit_code, 0) << standalone.err;
  EXPECT_EQ(via_agent.out, standalone.out);

  EXPECT_EQ(agent->Stop(SIGTERM), 0);
  EXPECT_FALSE(std::filesystem::exists(default_socket()));
  EXPECT_THAT(ReadFile(log_path()), HasSubstr("shutting down"));
}

TEST_F(AgentE2eTest, SigtermTurnsHealthNotServingBeforeTheSocketCloses) {
  auto agent = StartAgent({}, default_socket());
  auto channel =
      grpc::CreateChannel("unix:" + default_socket(), grpc::InsecureChannelCredentials());
  HealthWatch server_health(channel, "");
  HealthWatch model_health(channel, "llorch.pool.v1.ModelService");
  EXPECT_EQ(server_health.Next().value_or(-1), 1);  // SERVING
  EXPECT_EQ(model_health.Next().value_or(-1), 1);
  ASSERT_EQ(kill(agent->pid(), SIGTERM), 0);
  // Told over the open streams, so before the agent stopped serving them.
  EXPECT_EQ(server_health.Next().value_or(-1), 2);  // NOT_SERVING
  EXPECT_EQ(model_health.Next().value_or(-1), 2);
  EXPECT_EQ(agent->Wait(), 0);
}

TEST_F(AgentE2eTest, ExplicitAgentAddressWinsAndSigintStopsIt) {
  const std::string socket = env_.Path("custom.sock");
  auto agent = StartAgent({"--listen", "unix:" + socket}, socket);
  CommandResult info = env_.Run({"--agent", "unix:" + socket, "agent", "info", "-o", "json", "-v"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.err, HasSubstr("using agent at unix:" + socket));
  nlohmann::json json = nlohmann::json::parse(info.out);
  ASSERT_EQ(json["listen_addresses"].size(), 1u);
  EXPECT_EQ(json["listen_addresses"][0], "unix:" + socket);
  EXPECT_EQ(agent->Stop(SIGINT), 0);
}

// A token file as an operator makes one: mode 0600.
std::string WriteToken(const std::string& path, const std::string& token) {
  std::ofstream(path) << token << "\n";
  chmod(path.c_str(), 0600);
  return path;
}

TEST_F(AgentE2eTest, ListensOnLoopbackTcpAndUnixAtOnce) {
  const std::string socket = env_.Path("both.sock");
  const std::string token = WriteToken(env_.Path("admin.token"), "0123456789abcdef0123456789");
  auto agent = StartAgent(
      {"--listen", "unix:" + socket, "--listen", "127.0.0.1:0", "--admin-token-file", token},
      socket);
  CommandResult info = env_.Run({"--agent", "unix:" + socket, "agent", "info", "-o", "json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  nlohmann::json json = nlohmann::json::parse(info.out);
  ASSERT_EQ(json["listen_addresses"].size(), 2u);
  const std::string tcp = json["listen_addresses"][1];
  ASSERT_THAT(tcp, HasSubstr("127.0.0.1:"));
  EXPECT_NE(tcp, "127.0.0.1:0");  // the port the kernel chose is reported
  CommandResult over_tcp =
      env_.Run({"--agent", tcp, "--token-file", token, "models", "catalog", "qwen"});
  EXPECT_EQ(over_tcp.exit_code, 0) << over_tcp.err;
  EXPECT_THAT(over_tcp.out, HasSubstr("qwen"));
  // Without the token, loopback or not, the agent refuses before doing anything.
  CommandResult no_token = env_.Run({"--agent", tcp, "models", "catalog", "qwen"});
  EXPECT_NE(no_token.exit_code, 0);
  EXPECT_THAT(no_token.err, HasSubstr("this listener requires a token"));
}

// Every call the agent refuses is one warning record in its log: the method, the answer and what
// the caller presented, never a token's contents.
TEST_F(AgentE2eTest, EveryRefusedCallIsOneLogRecordWithItsMethodAndNoToken) {
  const std::string socket = env_.Path("both.sock");
  const std::string admin = WriteToken(env_.Path("admin.token"), "0123456789abcdef0123456789");
  const std::string read_only = WriteToken(env_.Path("ro.token"), "fedcba9876543210fedcba9876");
  const std::string wrong = WriteToken(env_.Path("wrong.token"), "wrongwrongwrongwrongwrong1");
  auto agent =
      StartAgent({"--log-format", "json", "--listen", "unix:" + socket, "--listen", "127.0.0.1:0",
                  "--admin-token-file", admin, "--read-only-token-file", read_only},
                 socket);
  CommandResult info = env_.Run({"--agent", "unix:" + socket, "agent", "info", "-o", "json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const std::string tcp = nlohmann::json::parse(info.out)["listen_addresses"][1];
  EXPECT_NE(env_.Run({"--agent", tcp, "models", "catalog"}).exit_code, 0);
  EXPECT_NE(env_.Run({"--agent", tcp, "--token-file", wrong, "ops", "list"}).exit_code, 0);
  CommandResult denied =
      env_.Run({"--agent", tcp, "--token-file", read_only, "ops", "cancel", "op-00000001"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.err, HasSubstr("needs the admin role"));
  // An allowed call is not logged as refused.
  EXPECT_EQ(env_.Run({"--agent", tcp, "--token-file", read_only, "ops", "list"}).exit_code, 0);

  // One record per refused call, found by what it says.
  std::vector<nlohmann::json> refused;
  const auto find = [&](const std::string& code, const std::string& credential) {
    for (const nlohmann::json& record : refused) {
      if (record.value("code", "") == code && record.value("credential", "") == credential) {
        return record;
      }
    }
    return nlohmann::json();
  };
  ASSERT_TRUE(WaitFor([&] {
    refused.clear();
    for (absl::string_view line : absl::StrSplit(ReadFile(log_path()), '\n', absl::SkipEmpty())) {
      nlohmann::json record = nlohmann::json::parse(line, nullptr, false);
      if (record.value("event", "") == "call.refused") refused.push_back(record);
    }
    return !find("permission_denied", "a read-only token").is_null();
  })) << ReadFile(log_path());
  EXPECT_EQ(refused.size(), 3u) << ReadFile(log_path());
  const nlohmann::json no_token = find("unauthenticated", "none");
  EXPECT_THAT(no_token.value("level", ""), ::testing::StartsWith("warn"));
  EXPECT_EQ(no_token.value("method", ""), "/llorch.pool.v1.ModelService/ListCatalog");
  EXPECT_THAT(no_token.value("user_agent", ""), HasSubstr("grpc"));
  EXPECT_EQ(find("unauthenticated", "a token this agent does not accept").value("method", ""),
            "/llorch.pool.v1.OperationService/ListOperations");
  EXPECT_EQ(find("permission_denied", "a read-only token").value("method", ""),
            "/llorch.pool.v1.OperationService/CancelOperation");
  const std::string log = ReadFile(log_path());
  for (const char* token : {"wrongwrong", "0123456789abcdef", "fedcba9876543210"}) {
    EXPECT_THAT(log, Not(HasSubstr(token)));
  }
}

TEST_F(AgentE2eTest, TcpWithoutATokenNeedsInsecureWhichAgentInfoShows) {
  CommandResult refused = env_.Run({"--listen", "127.0.0.1:0"}, "pool-agent");
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("without authentication"));
  EXPECT_THAT(refused.err, HasSubstr("agent.admin_token_file"));

  const std::string socket = env_.Path("insecure.sock");
  auto agent =
      StartAgent({"--listen", "unix:" + socket, "--listen", "127.0.0.1:0", "--insecure"}, socket);
  CommandResult info = env_.Run({"--agent", "unix:" + socket, "agent", "info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr("INSECURE (--insecure)"));
}

TEST_F(AgentE2eTest, TheCliTalksMutualTlsWithItsClientCertificate) {
  const std::string dir = env_.Path("tls");
  std::filesystem::create_directories(dir);
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, "ca", "server", "server"));
  ASSERT_NO_FATAL_FAILURE(MakeCertificate(dir, "ca", "client", "client"));
  const std::string token = WriteToken(env_.Path("admin.token"), "0123456789abcdef0123456789");
  const std::string socket = env_.Path("tls.sock");
  auto agent = StartAgent({"--listen", "unix:" + socket, "--listen", "127.0.0.1:0", "--tls-cert",
                           dir + "/server.pem", "--tls-key", dir + "/server.key", "--tls-client-ca",
                           dir + "/ca.pem", "--admin-token-file", token},
                          socket);
  CommandResult listing = env_.Run({"--agent", "unix:" + socket, "agent", "info", "-o", "json"});
  ASSERT_EQ(listing.exit_code, 0) << listing.err;
  const std::string tcp = nlohmann::json::parse(listing.out)["listen_addresses"][1];
  const std::vector<std::string> tls = {
      "--agent",           tcp,         "--tls-ca",         dir + "/ca.pem", "--tls-cert",
      dir + "/client.pem", "--tls-key", dir + "/client.key"};
  auto with = [&](std::vector<std::string> args) {
    std::vector<std::string> argv = tls;
    argv.insert(argv.end(), args.begin(), args.end());
    return env_.Run(argv);
  };
  // The certificate alone: read-only (agent.client_cert_role); with the token: admin.
  CommandResult info = with({"agent", "info"});
  EXPECT_EQ(info.exit_code, 0) << info.err;
  CommandResult denied = with({"models", "delete", "qwen", "--force"});
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_THAT(denied.err, HasSubstr("needs the admin role"));
  CommandResult admin = with({"--token-file", token, "models", "delete", "qwen", "--force"});
  EXPECT_THAT(admin.err, Not(HasSubstr("admin role")));
  // Without the client certificate the handshake fails.
  CommandResult no_cert = env_.Run({"--agent", tcp, "--tls-ca", dir + "/ca.pem", "agent", "info"});
  EXPECT_NE(no_cert.exit_code, 0);
}

TEST_F(AgentE2eTest, TheCliNeverSendsATokenOverPlaintextBeyondThisHost) {
  const std::string token = WriteToken(env_.Path("admin.token"), "0123456789abcdef0123456789");
  // 192.0.2.1 is TEST-NET-1: nothing is ever reached, the CLI refuses before connecting.
  CommandResult refused =
      env_.Run({"--agent", "192.0.2.1:9200", "--token-file", token, "agent", "info"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("refusing to send the token"));
  EXPECT_THAT(refused.err, HasSubstr("ssh -L"));
}

TEST_F(AgentE2eTest, SecondAgentOnTheSameSocketIsRefused) {
  auto first = StartAgent({}, default_socket());
  CommandResult second = env_.Run({}, "pool-agent");
  EXPECT_NE(second.exit_code, 0);
  EXPECT_THAT(second.err, HasSubstr("another agent is already listening"));
  EXPECT_TRUE(UnixSocketAccepts(default_socket()));
}

TEST_F(AgentE2eTest, StaleSocketFileIsReplaced) {
  {
    auto crashed = StartAgent({}, default_socket());
    crashed->Stop(SIGKILL);
  }
  ASSERT_TRUE(std::filesystem::exists(default_socket()));
  auto agent = StartAgent({}, default_socket());
  EXPECT_EQ(env_.Run({"agent", "info"}).exit_code, 0);
}

TEST_F(AgentE2eTest, BadListenAddressesAreRefusedWithAReason) {
  CommandResult bogus = env_.Run({"--listen", "nowhere"}, "pool-agent");
  EXPECT_EQ(bogus.exit_code, 2);
  EXPECT_THAT(bogus.err, HasSubstr("expected unix:PATH, HOST:PORT"));
  CommandResult open = env_.Run({"--listen", "0.0.0.0:0"}, "pool-agent");
  EXPECT_EQ(open.exit_code, 2);
  EXPECT_THAT(open.err, HasSubstr("without TLS"));
  EXPECT_THAT(open.err, HasSubstr("--insecure"));
}

TEST_F(AgentE2eTest, VersionAndHelp) {
  CommandResult version = env_.Run({"--version"}, "pool-agent");
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_THAT(version.out, HasSubstr("pool-agent 0.1.0"));
  CommandResult help = env_.Run({"--help"}, "pool-agent");
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("--listen"));
  EXPECT_THAT(help.out, HasSubstr("Examples:"));
}

// Runs `llorch-pool models verify` against an agent on a file that takes far longer to hash than
// any test (64 GiB, sparse); returns once the agent runs it.
class LongVerifyTest : public AgentE2eTest {
 protected:
  void SetUp() override {
    WriteALongTinyllama();
    agent_ = StartAgent({"--log-format", "json"}, default_socket());
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = env_.Path("work");
    verify_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{InstalledBinary("llorch-pool"), "models", "verify", "tinyllama"},
        options, env_.Path("verify.log"));
    ASSERT_TRUE(WaitFor([&] { return Latest().value("state", "") == "OPERATION_STATE_RUNNING"; }))
        << Latest();
  }

  // The latest operation, as `llorch-pool ops list -o json` shows it.
  nlohmann::json Latest() const {
    const std::string out = env_.Run({"ops", "list", "-o", "json"}).out;
    nlohmann::json json = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    if (!json.contains("operations") || json["operations"].empty()) return nlohmann::json::object();
    return json["operations"][0];
  }

  // Follows the verify over gRPC, as an orchestrator watching it would.
  void WatchOverGrpc() {
    watched_id_ = Latest().value("id", "");
    pool::v1::WatchOperationRequest request;
    request.set_id(watched_id_);
    watch_ =
        pool::v1::OperationService::NewStub(
            grpc::CreateChannel("unix:" + default_socket(), grpc::InsecureChannelCredentials()))
            ->WatchOperation(&watch_context_, request);
    pool::v1::OperationEvent first;  // the stream is up once the history arrives
    ASSERT_TRUE(watch_->Read(&first));
  }
  // The ErrorHint of the final event the watcher saw.
  pool::v1::ErrorHint FinalErrorHint() {
    pool::v1::OperationEvent event;
    while (watch_->Read(&event) && !event.final()) {
    }
    EXPECT_TRUE(event.final()) << event.DebugString();
    EXPECT_EQ(event.state(), pool::v1::OPERATION_STATE_CANCELLED);
    return ErrorHintOf(event.error());
  }

  std::unique_ptr<BackgroundProcess> agent_;
  std::unique_ptr<BackgroundProcess> verify_;
  std::string watched_id_;
  grpc::ClientContext watch_context_;
  std::unique_ptr<grpc::ClientReader<pool::v1::OperationEvent>> watch_;
};

TEST_F(LongVerifyTest, CtrlCCancelsTheOperationThisClientStartedAndExits130) {
  WatchOverGrpc();
  EXPECT_EQ(verify_->Stop(SIGINT), 130);
  EXPECT_THAT(ReadFile(env_.Path("verify.log")), HasSubstr("cancelling op-"));
  // The agent stopped the work: the operation this client started ends cancelled, and another
  // watcher learns who asked.
  const pool::v1::ErrorHint hint = FinalErrorHint();
  EXPECT_EQ(hint.reason(), "CANCELLED_BY_CLIENT");
  EXPECT_THAT(hint.metadata().at("requested_by"),
              ::testing::StartsWith(absl::StrCat("Ctrl-C in `llorch-pool models verify` (pid ",
                                                 verify_->pid(), " on ")));
  EXPECT_THAT(hint.metadata().at("peer"), ::testing::StartsWith("unix:"));
  EXPECT_TRUE(WaitFor([&] { return Latest().value("state", "") == "OPERATION_STATE_CANCELLED"; }))
      << Latest();
}

TEST_F(LongVerifyTest, CancelFromASecondTerminalStopsTheWorkAndShowsTheFinalState) {
  const std::string id = Latest().value("id", "");
  CommandResult cancel = env_.Run({"ops", "cancel", id});
  EXPECT_EQ(cancel.exit_code, 0) << cancel.err;
  EXPECT_THAT(cancel.out, HasSubstr(id));
  EXPECT_THAT(cancel.out, ::testing::ContainsRegex("state +cancelled"));
  // The client that started the verify says who stopped it, and exits as interrupted.
  EXPECT_EQ(verify_->Wait(), 130);
  const std::string verify_log = ReadFile(env_.Path("verify.log"));
  EXPECT_THAT(verify_log,
              HasSubstr("error: operation " + id +
                        " was cancelled by another client: `llorch-pool ops cancel` (pid "));
  EXPECT_THAT(verify_log, HasSubstr(", over the agent's unix socket\n"));
  EXPECT_THAT(verify_log, Not(HasSubstr("hint:")));  // no command to run: it was asked for
  // The agent's log tells the story, one JSON object a line: started, then cancelled by whom.
  std::vector<nlohmann::json> records;
  for (absl::string_view line : absl::StrSplit(ReadFile(log_path()), '\n', absl::SkipEmpty())) {
    records.push_back(nlohmann::json::parse(line));  // every line, not only ours
    ASSERT_TRUE(records.back().contains("time") && records.back().contains("level")) << line;
  }
  const auto record = [&](const std::string& event) {
    for (const nlohmann::json& r : records) {
      if (r.value("event", "") == event && r.value("id", "") == id) return r;
    }
    return nlohmann::json();
  };
  EXPECT_EQ(record("operation.start").value("kind", ""), "model.verify");
  EXPECT_EQ(record("operation.start").value("target", ""), "tinyllama");
  EXPECT_THAT(record("operation.start").value("started_by", ""),
              HasSubstr(absl::StrCat("`llorch-pool models verify` (pid ", verify_->pid(), " on ")));
  EXPECT_THAT(record("operation.start").value("peer", ""), ::testing::StartsWith("unix:"));
  const nlohmann::json cancelled = record("operation.cancel");
  EXPECT_EQ(cancelled.value("state", ""), "cancelled");
  EXPECT_EQ(cancelled.value("reason", ""), "CANCELLED_BY_CLIENT");
  EXPECT_THAT(cancelled.value("requested_by", ""), HasSubstr("`llorch-pool ops cancel` (pid "));
  EXPECT_THAT(cancelled.value("peer", ""), ::testing::StartsWith("unix:"));
  EXPECT_FALSE(cancelled.value("duration_s", "").empty());
}

TEST_F(LongVerifyTest, StoppingTheAgentCancelsItsOperationsAndTellsTheirClients) {
  WatchOverGrpc();
  EXPECT_EQ(agent_->Stop(SIGTERM), 0);
  EXPECT_EQ(verify_->Wait(), 130);
  EXPECT_THAT(ReadFile(env_.Path("verify.log")),
              HasSubstr("error: operation " + watched_id_ +
                        " was cancelled: the agent is shutting down (SIGTERM)"));
  EXPECT_THAT(ReadFile(log_path()), HasSubstr("cancelled 1 running operation(s)"));
  const pool::v1::ErrorHint hint = FinalErrorHint();
  EXPECT_EQ(hint.reason(), "AGENT_SHUTDOWN");
  EXPECT_EQ(hint.metadata().at("signal"), "SIGTERM");
}

// `llorch-pool agent events` follows the host as an orchestrator would: what a verify and a
// delete did, one JSON object per line in sequence with the agent's instance id, or one line each
// as text; a resume the agent cannot serve, and a CLI with no agent to follow, say so.
TEST_F(AgentE2eTest, AgentEventsFollowsTheHostsOperationsAndModels) {
  auto agent = StartAgent({}, default_socket());
  const std::string file = env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf";
  std::filesystem::create_directories(std::filesystem::path(file).parent_path());
  std::ofstream(file) << "GGUF";
  CommandOptions options;
  options.env = env_.env();
  options.working_dir = env_.Path("work");
  BackgroundProcess json(
      {InstalledBinary("llorch-pool"), "agent", "events", "--after", "0", "-o", "json"}, options,
      env_.Path("events.json"));
  BackgroundProcess text({InstalledBinary("llorch-pool"), "agent", "events", "--after", "0"},
                         options, env_.Path("events.txt"));
  // The verify finds no manifest and cannot ask the Hub (exit 1); the delete removes the file.
  // The agent keeps its events: a follower from 0 gets them however late it connects.
  EXPECT_EQ(env_.Run({"models", "verify", "tinyllama"}).exit_code, 1);
  ASSERT_EQ(env_.Run({"models", "delete", "tinyllama", "--force"}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] {
    return ReadFile(env_.Path("events.json")).find("KIND_REMOVED") != std::string::npos &&
           ReadFile(env_.Path("events.txt")).find("model tinyllama removed") != std::string::npos;
  })) << ReadFile(env_.Path("events.json"))
      << ReadFile(env_.Path("events.txt"));
  EXPECT_EQ(json.Stop(SIGINT), 130);
  EXPECT_EQ(text.Stop(SIGINT), 130);

  const nlohmann::json info = nlohmann::json::parse(env_.Run({"agent", "info", "-o", "json"}).out);
  std::vector<nlohmann::json> events;
  std::istringstream lines(ReadFile(env_.Path("events.json")));
  for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
  ASSERT_FALSE(events.empty());
  std::vector<std::string> seen;
  for (size_t i = 0; i < events.size(); ++i) {
    EXPECT_EQ(events[i]["agent_instance_id"], info["instance_id"]);
    if (i > 0) {
      EXPECT_EQ(events[i]["sequence"].get<uint64_t>(),
                events[i - 1]["sequence"].get<uint64_t>() + 1);
    }
    if (events[i].contains("operation")) {
      seen.push_back(events[i]["operation"]["kind"].get<std::string>() + " " +
                     events[i]["operation"]["state"].get<std::string>());
    } else {
      seen.push_back(events[i]["model"]["kind"].get<std::string>() + " " +
                     events[i]["model"]["model_id"].get<std::string>());
    }
  }
  EXPECT_THAT(seen, ::testing::IsSupersetOf(
                        {"model.verify OPERATION_STATE_SUCCEEDED", "KIND_REMOVED tinyllama"}));
  EXPECT_EQ(seen.back(), "KIND_REMOVED tinyllama");

  const std::string text_lines = ReadFile(env_.Path("events.txt"));
  EXPECT_THAT(text_lines, ::testing::ContainsRegex(
                              "#1  [0-9:]{8}  operation op-[0-9a-f]{8} model.verify tinyllama: "
                              "pending\n"));
  EXPECT_THAT(text_lines, ::testing::ContainsRegex("model.verify tinyllama: succeeded\n"));
  EXPECT_THAT(text_lines, ::testing::ContainsRegex("  model tinyllama removed\n"));

  CommandResult restarted = env_.Run(
      {"agent", "events", "--after", "1", "--instance", "0123456789abcdef0123456789abcdef"});
  EXPECT_EQ(restarted.exit_code, 2);
  EXPECT_THAT(restarted.err, HasSubstr("error: the agent restarted"));
  EXPECT_THAT(restarted.err, HasSubstr("hint: list what you follow again"));

  CommandResult standalone = env_.Run({"--standalone", "agent", "events"});
  EXPECT_EQ(standalone.exit_code, 3);
  EXPECT_THAT(standalone.err, HasSubstr("`agent events` follows the events of a running agent"));
}

// --- Restarts, as an orchestrator sees them over gRPC ---

std::shared_ptr<grpc::Channel> ChannelTo(const std::string& socket) {
  return grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials());
}

v1::HostInfo HostInfoOf(const std::shared_ptr<grpc::Channel>& channel) {
  v1::HostInfo info;
  grpc::ClientContext context;
  EXPECT_TRUE(v1::AgentService::NewStub(channel)
                  ->GetHostInfo(&context, v1::GetHostInfoRequest(), &info)
                  .ok());
  return info;
}

// The events of a VerifyModel call, read to the end; its status in *status.
std::vector<v1::OperationEvent> Verify(const std::shared_ptr<grpc::Channel>& channel,
                                       const v1::VerifyModelRequest& request,
                                       grpc::Status* status) {
  grpc::ClientContext context;
  auto reader = v1::ModelService::NewStub(channel)->VerifyModel(&context, request);
  std::vector<v1::OperationEvent> events;
  v1::OperationEvent event;
  while (reader->Read(&event)) events.push_back(event);
  *status = reader->Finish();
  return events;
}

std::vector<v1::OperationEvent> Watch(const std::shared_ptr<grpc::Channel>& channel,
                                      const std::string& id, uint64_t after_sequence) {
  v1::WatchOperationRequest request;
  request.set_id(id);
  request.set_after_sequence(after_sequence);
  grpc::ClientContext context;
  auto reader = v1::OperationService::NewStub(channel)->WatchOperation(&context, request);
  std::vector<v1::OperationEvent> events;
  v1::OperationEvent event;
  while (reader->Read(&event)) events.push_back(event);
  EXPECT_TRUE(reader->Finish().ok());
  return events;
}

v1::Operation GetOperation(const std::shared_ptr<grpc::Channel>& channel, const std::string& id) {
  v1::GetOperationRequest request;
  request.set_id(id);
  v1::Operation operation;
  grpc::ClientContext context;
  grpc::Status status =
      v1::OperationService::NewStub(channel)->GetOperation(&context, request, &operation);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return operation;
}

std::vector<std::string> ListedOperations(const std::shared_ptr<grpc::Channel>& channel) {
  v1::ListOperationsResponse response;
  grpc::ClientContext context;
  EXPECT_TRUE(v1::OperationService::NewStub(channel)
                  ->ListOperations(&context, v1::ListOperationsRequest(), &response)
                  .ok());
  std::vector<std::string> ids;
  for (const v1::Operation& operation : response.operations()) ids.push_back(operation.id());
  return ids;
}

TEST_F(AgentE2eTest, AFinishedOperationOutlivesARestartAndARetryOfItStartsNothing) {
  WriteTinyllamaWithAWrongManifest();
  auto agent = StartAgent({}, default_socket());
  auto channel = ChannelTo(default_socket());
  const std::string instance = HostInfoOf(channel).instance_id();
  EXPECT_THAT(instance, ::testing::MatchesRegex("[0-9a-f]{32}"));
  EXPECT_EQ(HostInfoOf(channel).instance_id(), instance);  // the same while it runs
  v1::VerifyModelRequest request;
  request.add_ids("tinyllama");
  request.set_request_id("3f1c9a52-verify-tinyllama");
  grpc::Status status;
  const std::vector<v1::OperationEvent> first = Verify(channel, request, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_FALSE(first.empty());
  const v1::OperationEvent final_event = first.back();
  ASSERT_TRUE(final_event.final());
  ASSERT_EQ(final_event.state(), v1::OPERATION_STATE_SUCCEEDED);  // its result: 1 of 1 failed
  const std::string id = final_event.operation_id();
  ASSERT_EQ(agent->Stop(SIGTERM), 0);

  agent = StartAgent({}, default_socket());
  channel = ChannelTo(default_socket());
  EXPECT_NE(HostInfoOf(channel).instance_id(), instance);
  const v1::Operation operation = GetOperation(channel, id);
  EXPECT_EQ(operation.state(), v1::OPERATION_STATE_SUCCEEDED);
  EXPECT_TRUE(MessageDifferencer::Equals(operation.result(), final_event.result()));
  EXPECT_THAT(ListedOperations(channel), ElementsAre(id));
  const std::vector<v1::OperationEvent> watched = Watch(channel, id, 0);
  ASSERT_EQ(watched.size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(watched[0], final_event));

  // The retry gets the operation's end, and no second verify runs.
  const std::vector<v1::OperationEvent> retried = Verify(channel, request, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(retried[0], final_event));
  EXPECT_THAT(ListedOperations(channel), ElementsAre(id));

  // The same id with another request, and an id that is no id.
  v1::VerifyModelRequest other = request;
  other.set_ids(0, "qwen");
  EXPECT_TRUE(Verify(channel, other, &status).empty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  EXPECT_EQ(ErrorHintOf(status).reason(), "REQUEST_ID_REUSED");
  EXPECT_THAT(status.error_message(), HasSubstr(id));
  EXPECT_THAT(ErrorHintOf(status).metadata(),
              ::testing::Contains(::testing::Pair("operation_id", id)));
  other.set_request_id("not an id!");
  EXPECT_TRUE(Verify(channel, other, &status).empty());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ErrorHintOf(status).reason(), "INVALID_REQUEST");
  EXPECT_THAT(ErrorHintOf(status).metadata(),
              ::testing::Contains(::testing::Pair("field", "request_id")));
  EXPECT_THAT(ListedOperations(channel), ElementsAre(id));
}

TEST_F(AgentE2eTest, AnOperationRunningWhenTheAgentIsKilledIsFailedAfterTheRestart) {
  WriteALongTinyllama();
  auto agent = StartAgent({}, default_socket());
  auto channel = ChannelTo(default_socket());
  v1::VerifyModelRequest request;
  request.add_ids("tinyllama");
  request.set_request_id("long-verify-1");
  grpc::ClientContext context;
  auto stream = v1::ModelService::NewStub(channel)->VerifyModel(&context, request);
  v1::OperationEvent event;
  while (stream->Read(&event) && event.state() != v1::OPERATION_STATE_RUNNING) {
  }
  ASSERT_EQ(event.state(), v1::OPERATION_STATE_RUNNING);
  const std::string id = event.operation_id();
  const uint64_t seen = event.sequence();
  {
    // A retry while it runs follows the same operation.
    grpc::ClientContext retry_context;
    auto retry = v1::ModelService::NewStub(channel)->VerifyModel(&retry_context, request);
    v1::OperationEvent retry_event;
    ASSERT_TRUE(retry->Read(&retry_event));
    EXPECT_EQ(retry_event.operation_id(), id);
    EXPECT_EQ(retry_event.sequence(), 1u);
    retry_context.TryCancel();
    retry->Finish();
  }
  EXPECT_THAT(ListedOperations(channel), ElementsAre(id));

  ASSERT_EQ(agent->Stop(SIGKILL), 128 + SIGKILL);
  while (stream->Read(&event)) {
  }
  stream->Finish();

  agent = StartAgent({}, default_socket());
  channel = ChannelTo(default_socket());
  const v1::Operation operation = GetOperation(channel, id);
  EXPECT_EQ(operation.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(operation.error().code(), grpc::StatusCode::ABORTED);
  EXPECT_EQ(ErrorHintOf(operation.error()).reason(), "AGENT_RESTARTED");
  EXPECT_THAT(operation.error().message(), HasSubstr("the agent stopped before this operation"));
  // Resuming the watch where it broke gets the end, whatever the agent could number.
  const std::vector<v1::OperationEvent> resumed = Watch(channel, id, seen);
  ASSERT_EQ(resumed.size(), 1u);
  EXPECT_TRUE(resumed[0].final());
  EXPECT_EQ(resumed[0].state(), v1::OPERATION_STATE_FAILED);
  // A retry with the same id gets that end too; a new id starts the work again.
  grpc::Status status;
  const std::vector<v1::OperationEvent> retried = Verify(channel, request, &status);
  ASSERT_EQ(retried.size(), 1u);
  EXPECT_EQ(retried[0].operation_id(), id);
  EXPECT_THAT(ListedOperations(channel), ElementsAre(id));
}

TEST_F(AgentE2eTest, WatchingAFailedVerifyShowsItsResultAndExits1) {
  WriteTinyllamaWithAWrongManifest();
  auto agent = StartAgent({}, default_socket());
  CommandResult verify = env_.Run({"models", "verify", "tinyllama"});
  EXPECT_EQ(verify.exit_code, 1) << verify.err;
  const nlohmann::json listed = nlohmann::json::parse(env_.Run({"ops", "list", "-o", "json"}).out);
  const std::string id = listed["operations"][0]["id"];
  CommandResult watch = env_.Run({"ops", "watch", id});
  EXPECT_EQ(watch.exit_code, 1) << watch.err;
  EXPECT_THAT(watch.out, HasSubstr("FAILED"));
  EXPECT_THAT(watch.out, HasSubstr("1 of 1 models failed verification"));
}

TEST_F(AgentE2eTest, PathFlagsThatCannotReachARunningAgentAreSaidToBeIgnored) {
  auto agent = StartAgent({}, default_socket());
  CommandResult list = env_.Run({"--models-dir", "/elsewhere", "models", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.err, HasSubstr("note: --models-dir configures an agent in this process only; "
                                  "the agent at unix:" +
                                  default_socket() + " (default socket) keeps its own"));
  EXPECT_EQ(env_.Run({"--models-dir", "/elsewhere", "--standalone", "models", "list"}).err, "");
}

// A host with several users, none with XDG_RUNTIME_DIR (as over ssh without a login session), so
// the default socket and state live in $TMPDIR/llorch-<uid>, in a sticky TMPDIR as /tmp is.
// Programs run as kUser and kOtherUser; switching users needs root, so the tests are skipped
// without it.
class OtherUsersTest : public ::testing::Test {
 protected:
  static constexpr unsigned kUser = 65534;  // nobody
  static constexpr unsigned kOtherUser = 65533;

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "switching users needs root";
    ASSERT_EQ(chmod(temp_.path().c_str(), 0755), 0);
    std::filesystem::create_directory(Path("tmp"));
    ASSERT_EQ(chmod(Path("tmp").c_str(), 01777), 0);
    for (unsigned uid : {0u, kUser, kOtherUser}) {
      std::filesystem::create_directory(Home(uid));
      ASSERT_EQ(chown(Home(uid).c_str(), uid, uid), 0);
    }
  }

  std::string Path(const std::string& relative) const { return temp_.path() + "/" + relative; }
  std::string Home(unsigned uid) const { return Path("home-" + std::to_string(uid)); }
  // Where the agent of `uid` keeps its default socket.
  std::string PrivateDir(unsigned uid) const { return Path("tmp/llorch-" + std::to_string(uid)); }

  // Runs an installed binary as `uid`, with that user's environment and home as working dir.
  CommandResult Run(unsigned uid, const std::vector<std::string>& args,
                    const std::string& binary = "llorch-pool") const {
    std::vector<std::string> argv = {InstalledBinary(binary)};
    argv.insert(argv.end(), args.begin(), args.end());
    return RunCommand(AsUser(uid, argv), Options(uid));
  }
  std::unique_ptr<BackgroundProcess> StartAgent(unsigned uid,
                                                const std::vector<std::string>& args) {
    std::vector<std::string> argv = {InstalledBinary("pool-agent")};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<BackgroundProcess>(AsUser(uid, argv), Options(uid), log_path());
  }
  std::string log_path() const { return Path("agent.log"); }
  // True once the agent says it serves: its socket has its final mode then.
  bool WaitForServing() const {
    return WaitFor([&] { return ReadFile(log_path()).find(" serving ") != std::string::npos; });
  }

  // A directory made by root for `uid`, with `mode`.
  void MakeDirectory(const std::string& path, unsigned uid, mode_t mode) const {
    std::filesystem::create_directory(path);
    ASSERT_EQ(chown(path.c_str(), uid, uid), 0);
    ASSERT_EQ(chmod(path.c_str(), mode), 0);
  }

 private:
  CommandOptions Options(unsigned uid) const {
    CommandOptions options;
    // No HOME either: a user's state goes to $TMPDIR/llorch-<uid>/state.
    options.env = std::map<std::string, std::string>{
        {"PATH", "/usr/bin:/bin"}, {"TMPDIR", Path("tmp")}, {"HF_ENDPOINT", "http://127.0.0.1:9"}};
    // Root's state would be /var/lib/llorch/pool.
    if (uid == 0) (*options.env)["LLORCH_STATE_DIR"] = Path("root-state");
    options.working_dir = Home(uid);
    return options;
  }

  TempDir temp_;
};

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  return lstat(path.c_str(), &info) == 0 ? info.st_mode & 07777 : 0;
}

TEST_F(OtherUsersTest, AnAgentMakesItsDirectories0700AndKeepsItsStateInItsPrivateOne) {
  // A user's socket is theirs alone, whatever the umask.
  const std::string given = Home(kUser) + "/run/agent.sock";
  auto first = StartAgent(kUser, {"--listen", "unix:" + given});
  ASSERT_TRUE(WaitForServing()) << ReadFile(log_path());
  ASSERT_EQ(ModeOf(Home(kUser) + "/run"), 0700u);
  EXPECT_EQ(first->Stop(SIGTERM), 0);

  std::filesystem::remove(log_path());
  auto agent = StartAgent(kUser, {});
  const std::string socket = PrivateDir(kUser) + "/pool-agent.sock";
  ASSERT_TRUE(WaitForServing()) << ReadFile(log_path());
  EXPECT_EQ(ModeOf(PrivateDir(kUser)), 0700u);
  EXPECT_EQ(ModeOf(socket), 0660u);
  // Without HOME the state is there too, private as well.
  CommandResult info = Run(kUser, {"agent", "info", "-o", "json", "-v"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.err, HasSubstr("using agent at unix:" + socket + " (default socket)"));
  EXPECT_EQ(nlohmann::json::parse(info.out)["state_dir"], PrivateDir(kUser) + "/state");
  EXPECT_EQ(ModeOf(PrivateDir(kUser) + "/state"), 0700u);
}

TEST_F(OtherUsersTest, AnAgentRefusesADirectoryAnotherUserMade) {
  // Root made it world-writable: anyone could put their socket there.
  MakeDirectory(Path("open"), 0, 0777);
  const std::string given = Path("open/agent.sock");
  auto agent = StartAgent(kUser, {"--listen", "unix:" + given});
  ASSERT_TRUE(WaitFor([&] { return agent->Exited() || UnixSocketAccepts(given); }));
  ASSERT_TRUE(agent->Exited());
  EXPECT_EQ(agent->Wait(), 1);
  EXPECT_THAT(ReadFile(log_path()),
              HasSubstr("error: cannot use the socket directory: directory " + Path("open") +
                        " can be written by its group and others (mode 0777)\nhint: "));
  EXPECT_FALSE(std::filesystem::exists(given));
  EXPECT_EQ(ModeOf(Path("open")), 0777u);  // not ours to change

  // The same for the private directory, which holds the state as well (checked first).
  std::filesystem::remove_all(PrivateDir(kUser));  // made by the agent above, for its state
  MakeDirectory(PrivateDir(kUser), 0, 0777);
  CommandResult open = Run(kUser, {}, "pool-agent");
  EXPECT_EQ(open.exit_code, 1);
  EXPECT_THAT(open.err, HasSubstr("error: cannot use the state directory: directory " +
                                  PrivateDir(kUser) + " can be written by its group and others"));
  EXPECT_FALSE(std::filesystem::exists(PrivateDir(kUser) + "/pool-agent.sock"));

  // Another user made it, private to them.
  std::filesystem::remove(PrivateDir(kUser));
  MakeDirectory(PrivateDir(kUser), kOtherUser, 0700);
  CommandResult theirs = Run(kUser, {}, "pool-agent");
  EXPECT_EQ(theirs.exit_code, 1);
  EXPECT_THAT(theirs.err, HasSubstr("directory " + PrivateDir(kUser) + " is owned by uid " +
                                    std::to_string(kOtherUser) + ", not by you (nobody"));
}

TEST_F(OtherUsersTest, TheCliDoesNotTalkToAnAgentAnotherUserPutsInItsPrivateDirectory) {
  // Another user makes kUser's private directory before kUser does, and serves an agent there.
  MakeDirectory(PrivateDir(kUser), kOtherUser, 0755);
  const std::string socket = PrivateDir(kUser) + "/pool-agent.sock";
  auto impostor = StartAgent(kOtherUser, {"--listen", "unix:" + socket});
  ASSERT_TRUE(WaitForServing()) << ReadFile(log_path());
  ASSERT_EQ(chmod(socket.c_str(), 0666), 0);  // so that kUser can connect

  const std::string refusal = "error: not trusting the agent at unix:" + socket + ": directory " +
                              PrivateDir(kUser) + " is owned by uid " + std::to_string(kOtherUser);
  CommandResult given = Run(kUser, {"--agent", "unix:" + socket, "agent", "info"});
  ASSERT_EQ(given.exit_code, 3) << given.out;
  EXPECT_THAT(given.err, HasSubstr(refusal));
  EXPECT_THAT(given.err, HasSubstr("--standalone"));
  EXPECT_EQ(given.out, "");

  CommandResult found = Run(kUser, {"agent", "info"});  // the default socket
  EXPECT_EQ(found.exit_code, 3) << found.out;
  EXPECT_THAT(found.err, HasSubstr(refusal));
  EXPECT_EQ(Run(kUser, {"agent", "info", "--standalone"}).exit_code, 0);
}

TEST_F(OtherUsersTest, PermissionDeniedOnTheSocketSaysSoAndNamesItsGroup) {
  // Root's agent: its socket is 0660 root:root, which kUser may not use.
  const std::string socket = Path("root-agent/agent.sock");
  auto agent = StartAgent(0, {"--listen", "unix:" + socket});
  ASSERT_TRUE(WaitFor([&] { return UnixSocketAccepts(socket); })) << ReadFile(log_path());

  CommandResult info = Run(kUser, {"--agent", "unix:" + socket, "agent", "info"});
  EXPECT_EQ(info.exit_code, 3);
  EXPECT_THAT(info.err, HasSubstr("error: permission denied on " + socket +
                                  ": members of group 'root' may use it"));
  EXPECT_THAT(info.err, HasSubstr("hint: ask to be added to group 'root'"));
}

}  // namespace
}  // namespace llorch::testing
