#include "client/connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/client_interceptor.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/file_read.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/token_file.h"
#include "common/trusted_dir.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;

// Every channel to a pool-agent: long streams (an operation's events, `agent events`, `worker
// logs -f`) have no deadline, so a silent connection is pinged every 30 s and given up when the
// agent does not answer within 10 s (a host gone, a cable cut): the command then fails with
// UNAVAILABLE instead of waiting forever. The agent allows a ping every 20 s.
grpc::ChannelArguments AgentChannelArguments() {
  grpc::ChannelArguments arguments;
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 30 * 1000);
  arguments.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 10 * 1000);
  arguments.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return arguments;
}

std::shared_ptr<grpc::Channel> ChannelTo(const Address& address) {
  return grpc::CreateCustomChannel(address.GrpcTarget(), grpc::InsecureChannelCredentials(),
                                   AgentChannelArguments());
}

// Sends "authorization: Bearer TOKEN" with every call.
class TokenInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit TokenInterceptor(const std::string* authorization) : authorization_(authorization) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      methods->GetSendInitialMetadata()->insert({"authorization", *authorization_});
    }
    methods->Proceed();
  }

 private:
  const std::string* authorization_;
};

class TokenInterceptorFactory final : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit TokenInterceptorFactory(const std::string& token)
      : authorization_(absl::StrCat("Bearer ", token)) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo*) override {
    return new TokenInterceptor(&authorization_);
  }

 private:
  const std::string authorization_;  // lives as long as the channel
};

// The credentials for an agent on TCP: TLS when client.tls_ca_file is set (with this client's
// certificate when client.tls_cert_file is), else plaintext.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> TcpCredentials(const Config& config) {
  const Config::Client& client = config.client;
  if (client.tls_ca_file.empty()) {
    if (!client.tls_cert_file.empty() || !client.tls_key_file.empty()) {
      return WithHint(absl::InvalidArgumentError(
                          "client.tls_cert_file and client.tls_key_file need client.tls_ca_file"),
                      "give the CA that signed the agent's certificate with --tls-ca FILE");
    }
    return grpc::InsecureChannelCredentials();
  }
  if (client.tls_cert_file.empty() != client.tls_key_file.empty()) {
    return WithHint(
        absl::InvalidArgumentError("a client certificate needs both --tls-cert and --tls-key"),
        "give both files (client.tls_cert_file and client.tls_key_file), or neither");
  }
  grpc::SslCredentialsOptions options;
  FileReadOptions read;
  read.what = "PEM file";
  const std::pair<const std::string*, std::string*> files[] = {
      {&client.tls_ca_file, &options.pem_root_certs},
      {&client.tls_cert_file, &options.pem_cert_chain},
      {&client.tls_key_file, &options.pem_private_key}};
  for (const auto& [path, pem] : files) {
    if (path->empty()) continue;
    absl::StatusOr<std::string> text = ReadRegularFile(*path, read);
    if (!text.ok()) return text.status();
    *pem = *std::move(text);
  }
  return grpc::SslCredentials(options);
}

// A channel to a TCP agent that presents client.token_file's token, if one is configured. The
// token never travels in plaintext beyond this host: to a non-loopback address without TLS it
// is refused.
absl::StatusOr<std::shared_ptr<grpc::Channel>> TcpChannelTo(const Address& address,
                                                            const Config& config) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials = TcpCredentials(config);
  if (!credentials.ok()) return credentials.status();
  if (config.client.token_file.empty()) {
    return grpc::CreateCustomChannel(address.GrpcTarget(), *credentials, AgentChannelArguments());
  }
  if (!address.IsLocal() && config.client.tls_ca_file.empty()) {
    return WithHint(
        absl::InvalidArgumentError(absl::StrCat(
            "refusing to send the token of client.token_file to ", address.GrpcTarget(),
            " over plaintext TCP: anyone on the path could read it and control the agent")),
        "use TLS (--tls-ca FILE, with an agent that has agent.tls_cert_file), or reach the agent "
        "through a loopback address (e.g. an SSH tunnel: ssh -L 9200:127.0.0.1:9200 HOST, then "
        "--agent 127.0.0.1:9200)");
  }
  absl::StatusOr<std::string> token = ReadTokenFile(config.client.token_file, "client.token_file");
  if (!token.ok()) return token.status();
  std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
  factories.push_back(std::make_unique<TokenInterceptorFactory>(*token));
  return grpc::experimental::CreateCustomChannelWithInterceptors(
      address.GrpcTarget(), *credentials, AgentChannelArguments(), std::move(factories));
}

// EACCES on connect: no write permission on the socket, or no search permission on a directory
// above it. Names the group of the socket (of its directory when the socket cannot be seen).
absl::Status PermissionDenied(const std::string& path) {
  struct stat info {};
  const fs::path dir = fs::path(path).parent_path();
  const bool known = stat(path.c_str(), &info) == 0 || stat(dir.c_str(), &info) == 0;
  if (!known) {
    return WithHint(absl::UnavailableError(absl::StrCat("permission denied on ", path)),
                    "ask its owner for access, or run the agent code in this process with "
                    "--standalone");
  }
  const std::string group = GroupName(info.st_gid);
  return WithHint(
      absl::UnavailableError(absl::StrCat("permission denied on ", path, ": members of group '",
                                          group, "' may use it")),
      absl::StrCat("ask to be added to group '", group,
                   "' (then log in again), or run the agent code in this process "
                   "with --standalone"));
}

absl::Status NotTrusted(const std::string& path, absl::string_view why) {
  return WithHint(
      absl::UnavailableError(absl::StrCat("not trusting the agent at unix:", path, ": ", why)),
      "another user could be posing as the agent there: use an agent run by you or root on a "
      "socket only you can replace, or run the agent code in this process with --standalone");
}

// "no agent answers at ADDR (set by ORIGIN)" and how to start one there: for a configured address
// that nothing answers at, unix socket or TCP alike.
absl::Status NoAgentAnswers(const Config& config, const Address& address,
                            absl::string_view detail) {
  auto origin = config.origin.find("agent.address");
  const std::string set_by = origin == config.origin.end() ? "configuration" : origin->second;
  return WithHint(
      absl::UnavailableError(absl::StrCat("no agent answers at ", address.GrpcTarget(), " (set by ",
                                          set_by, ")", detail.empty() ? "" : ": ", detail)),
      "start it with `pool-agent --listen " + address.GrpcTarget() +
          "`, or run in-process with --standalone");
}

}  // namespace

absl::Status CheckAgentSocket(const std::string& path, uid_t uid) {
  const UnixSocketProbe probe = ProbeUnixSocket(path);
  switch (probe.error) {
    case 0:
      break;
    case ENOENT:
    case ENOTDIR:
    case ECONNREFUSED:
      return absl::NotFoundError(absl::StrCat("no agent answers at unix:", path));
    case EACCES:
    case EPERM:
      return PermissionDenied(path);
    default:
      return absl::UnavailableError(
          absl::StrCat("cannot connect to unix:", path, ": ", std::strerror(probe.error)));
  }
  const fs::path dir = fs::path(path).parent_path();
  if (absl::Status status = CheckTrustedDirectory(dir.empty() ? "." : dir.string(), uid);
      !status.ok()) {
    return NotTrusted(path, status.message());
  }
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0 || !S_ISSOCK(info.st_mode)) {
    return NotTrusted(path, "it is not a socket");
  }
  if (info.st_uid != uid && info.st_uid != 0) {
    return NotTrusted(path, absl::StrCat("the socket is owned by ", UserDescription(info.st_uid),
                                         ", not by ", YouOrRoot(uid)));
  }
  if (probe.peer_uid != uid && probe.peer_uid != 0) {
    return NotTrusted(
        path, absl::StrCat("the process listening on it runs as ", UserDescription(probe.peer_uid),
                           ", not as ", YouOrRoot(uid)));
  }
  return absl::OkStatus();
}

Connection::~Connection() = default;

absl::Status Connection::Unreachable(absl::string_view transport_message) const {
  if (!unreachable_) return absl::OkStatus();
  // gRPC's words end with the cause: "...: Failed to connect to remote host: Connection refused".
  const size_t cause = transport_message.rfind(": ");
  return unreachable_(cause == absl::string_view::npos ? transport_message
                                                       : transport_message.substr(cause + 2));
}

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const Config& config,
                                                             const ConnectOptions& options) {
  std::unique_ptr<Connection> connection(new Connection());
  if (!options.standalone && !config.agent.address.empty()) {
    absl::StatusOr<Address> address = ParseAddress(config.agent.address);
    if (!address.ok()) return address.status();
    if (address->kind == Address::Kind::kUnix) {
      absl::Status usable = CheckAgentSocket(address->path, geteuid());
      if (absl::IsNotFound(usable)) return NoAgentAnswers(config, *address, "");
      if (!usable.ok()) return usable;
    }
    connection->unreachable_ = [config, address = *address](absl::string_view detail) {
      return NoAgentAnswers(config, address, detail);
    };
    if (address->kind == Address::Kind::kTcp) {
      absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = TcpChannelTo(*address, config);
      if (!channel.ok()) return channel.status();
      connection->channel_ = *std::move(channel);
      connection->plaintext_off_host_ = !address->IsLocal() && config.client.tls_ca_file.empty();
    } else {
      connection->channel_ = ChannelTo(*address);
    }
    connection->description_ = absl::StrCat("agent at ", address->GrpcTarget());
    return connection;
  }
  if (!options.standalone) {
    for (const std::string& path : {DefaultSocketPath(options.env, getuid()), SystemSocketPath()}) {
      absl::Status usable = CheckAgentSocket(path, geteuid());
      if (absl::IsNotFound(usable)) continue;
      if (!usable.ok()) return usable;
      connection->channel_ = ChannelTo(UnixAddress(path));
      connection->description_ = absl::StrCat("agent at unix:", path, " (default socket)");
      return connection;
    }
  }
  absl::StatusOr<std::unique_ptr<InProcessAgent>> agent =
      InProcessAgent::Start(config, options.working_dir);
  if (!agent.ok() && options.tolerate_config_errors) {
    Config defaults;
    defaults.sources = config.sources;
    agent = InProcessAgent::Start(defaults, options.working_dir);
  }
  if (!agent.ok()) return agent.status();
  connection->agent_ = std::move(*agent);
  connection->channel_ = connection->agent_->Channel();
  connection->description_ = options.standalone
                                 ? "in-process agent (--standalone)"
                                 : "in-process agent (no agent answers at the default socket)";
  return connection;
}

}  // namespace llorch
