#include "client/connection.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/address.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/trusted_dir.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;

std::shared_ptr<grpc::Channel> ChannelTo(const Address& address) {
  return grpc::CreateChannel(address.GrpcTarget(), grpc::InsecureChannelCredentials());
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
    connection->channel_ = ChannelTo(*address);
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
