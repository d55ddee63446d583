// The agent's gRPC server: every service, and for listeners the standard health service and
// server reflection, on any number of unix-socket and TCP listeners, or on none for in-process
// use.
//
// Standalone mode (llorch-pool with no agent running) starts an AgentServer without listeners
// and talks to it through InProcessChannel(): the same service code answers either way.
#ifndef LLORCH_AGENT_SERVER_AGENT_SERVER_H_
#define LLORCH_AGENT_SERVER_AGENT_SERVER_H_

#include <grpcpp/channel.h>
#include <grpcpp/server.h>

#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/server/agent_context.h"
#include "agent/server/bound_addresses.h"
#include "common/address.h"

namespace llorch {

class AgentServer {
 public:
  // Starts serving on `listeners` (empty: in-process only). Unix sockets get their parent
  // directory created (0750 as root, 0700 otherwise), a stale socket file of ours replaced, and
  // mode 0660; a socket directory not trusted by this user (trusted_dir.h: another user's, or
  // writable by others) and a socket another agent still answers on are errors. Non-local TCP
  // addresses are refused unless `insecure`. Unless the context is in-process, the operation
  // registry then keeps its history in <state_dir>/operations (OperationRegistry::KeepHistory),
  // which one agent at a time may use (FailedPrecondition otherwise).
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(
      std::shared_ptr<const AgentContext> context, const std::vector<Address>& listeners,
      bool insecure = false);

  ~AgentServer();

  // What the server listens on, as unix:PATH or HOST:PORT with real ports.
  std::vector<std::string> BoundAddresses() const;

  // A channel to this server that never leaves the process.
  std::shared_ptr<grpc::Channel> InProcessChannel();

  // The first step of stopping: from now on health reports every service, and the server as a
  // whole (""), NOT_SERVING, while calls are still served, so that probes and load balancers
  // turn away before anything closes. Health watchers get the change at once. Idempotent.
  void StopServing();

  // Stops accepting calls (after StopServing(), if not done yet); running calls get up to
  // `grace` to finish, then are cancelled. Safe to call from another thread while Wait() blocks.
  void Shutdown(absl::Duration grace);

  // Blocks until the server has shut down, then removes its socket files.
  void Wait();

 private:
  struct Services;
  AgentServer();

  std::shared_ptr<const AgentContext> context_;
  std::shared_ptr<llorch::BoundAddresses> bound_addresses_;
  std::unique_ptr<Services> services_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::string> socket_paths_;  // removed at shutdown
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_AGENT_SERVER_H_
