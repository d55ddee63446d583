#include "client/connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "agent/server/agent_context.h"
#include "agent/server/agent_server.h"
#include "common/address.h"
#include "common/paths.h"
#include "common/status.h"

namespace llorch {
namespace {

std::shared_ptr<grpc::Channel> ChannelTo(const Address& address) {
  return grpc::CreateChannel(address.GrpcTarget(), grpc::InsecureChannelCredentials());
}

}  // namespace

Connection::~Connection() = default;

absl::StatusOr<std::unique_ptr<Connection>> Connection::Open(const Config& config,
                                                             const ConnectOptions& options) {
  std::unique_ptr<Connection> connection(new Connection());
  if (!options.standalone && !config.agent.address.empty()) {
    absl::StatusOr<Address> address = ParseAddress(config.agent.address);
    if (!address.ok()) return address.status();
    if (address->kind == Address::Kind::kUnix && !UnixSocketAccepts(address->path)) {
      return WithHint(absl::UnavailableError(absl::StrCat(
                          "no agent answers at ", address->GrpcTarget(), " (set by ",
                          config.origin.count("agent.address") ? config.origin.at("agent.address")
                                                               : "configuration",
                          ")")),
                      "start it with `pool-agent --listen " + address->GrpcTarget() +
                          "`, or run in-process with --standalone");
    }
    connection->channel_ = ChannelTo(*address);
    connection->description_ = absl::StrCat("agent at ", address->GrpcTarget());
    return connection;
  }
  if (!options.standalone) {
    for (const std::string& path : {DefaultSocketPath(options.env, getuid()), SystemSocketPath()}) {
      if (UnixSocketAccepts(path)) {
        connection->channel_ = ChannelTo(UnixAddress(path));
        connection->description_ = absl::StrCat("agent at unix:", path, " (default socket)");
        return connection;
      }
    }
  }
  absl::StatusOr<std::shared_ptr<const AgentContext>> context =
      AgentContext::Create(config, options.working_dir, /*in_process=*/true);
  if (!context.ok()) return context.status();
  absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(*context, {});
  if (!server.ok()) return server.status();
  connection->server_ = std::move(*server);
  connection->channel_ = connection->server_->InProcessChannel();
  connection->description_ = options.standalone
                                 ? "in-process agent (--standalone)"
                                 : "in-process agent (no agent answers at the default socket)";
  return connection;
}

}  // namespace llorch
