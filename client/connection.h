// How llorch-pool reaches an agent. In order of precedence:
//   1. --agent ADDR, or the configured agent (agent.address / LLORCH_AGENT): used as given;
//   2. the default socket (the user's, then the system one) if an agent answers there;
//   3. otherwise an agent started inside this process, reached over a gRPC in-process channel.
// --standalone skips 1 and 2. All paths run the same service code.
//
// An agent on a unix socket is used only when CheckAgentSocket() says so; otherwise Open fails
// with Unavailable (exit 3), whether the socket was given or is a default one.
#ifndef LLORCH_CLIENT_CONNECTION_H_
#define LLORCH_CLIENT_CONNECTION_H_

#include <grpcpp/channel.h>
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/server/in_process_agent.h"
#include "common/config.h"

namespace llorch {

// Whether llorch-pool, running as `uid`, may talk to the agent on the unix socket at `path`.
// NotFound when nothing answers there (no socket, or a stale one). Unavailable when this user may
// not connect (permission denied: the message names the group that may), when the socket's
// directory is not trusted by `uid` (trusted_dir.h), when the socket is not owned by `uid` or
// root, or when the process listening on it runs as another user than `uid` or root
// (SO_PEERCRED): anyone else could be posing as the agent.
absl::Status CheckAgentSocket(const std::string& path, uid_t uid);

struct ConnectOptions {
  bool standalone = false;
  std::map<std::string, std::string> env;  // for the default socket paths
  std::filesystem::path working_dir;       // for an in-process agent's relative paths
  // An in-process agent that cannot start on the configuration (a repo_root that does not
  // exist, say) starts on the defaults instead, keeping config.sources: `dev check-config`
  // then reports what is wrong rather than failing on it.
  bool tolerate_config_errors = false;
};

class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const Config& config,
                                                          const ConnectOptions& options);
  ~Connection();

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  bool in_process() const { return agent_ != nullptr; }
  // True when the process may end without stopping this connection's agent: a pool-agent
  // process, or an agent in this process that ran no operation (InProcessAgent::Idle).
  bool NothingToStop() const { return agent_ == nullptr || agent_->Idle(); }
  // Whether a secret (a Hub token passed with a request) may go over this connection: true
  // for an agent in this process, on a unix socket, or on TCP with TLS or to a loopback
  // address; false for plaintext TCP off this host, where anyone on the path could read it
  // (the same rule as for client.token_file's token).
  bool SecretsMayTravel() const { return !plaintext_off_host_; }
  // Which agent answers and why it was chosen, for -v.
  const std::string& description() const { return description_; }
  // For a configured address that the transport could not reach: the same error as for a unix
  // socket nothing answers at, naming the address, who set it and gRPC's last words (e.g.
  // "Connection refused"), with how to start an agent there. OK for other connections.
  absl::Status Unreachable(absl::string_view transport_message) const;

 private:
  Connection() = default;

  std::function<absl::Status(absl::string_view)> unreachable_;  // set for a configured address
  std::unique_ptr<InProcessAgent> agent_;                       // set in standalone mode
  std::shared_ptr<grpc::Channel> channel_;
  std::string description_;
  bool plaintext_off_host_ = false;  // TCP without TLS to a non-loopback address
};

}  // namespace llorch

#endif  // LLORCH_CLIENT_CONNECTION_H_
