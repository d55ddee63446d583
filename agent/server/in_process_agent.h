// The agent run inside another process: what llorch-pool starts in standalone mode (or when no
// agent answers), reached over a gRPC in-process channel. The only part of agent/ the client
// sees, so that it runs the same service code as pool-agent and nothing else of it.
#ifndef LLORCH_AGENT_SERVER_IN_PROCESS_AGENT_H_
#define LLORCH_AGENT_SERVER_IN_PROCESS_AGENT_H_

#include <grpcpp/channel.h>

#include <filesystem>
#include <memory>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace llorch {

class AgentServer;

class InProcessAgent {
 public:
  // Starts every service with `config`, relative paths resolved against `working_dir`, and no
  // listener. The errors are those of starting pool-agent with the same configuration.
  static absl::StatusOr<std::unique_ptr<InProcessAgent>> Start(
      const Config& config, const std::filesystem::path& working_dir);

  // Stops the agent: running operations are cancelled and joined.
  ~InProcessAgent();

  // A channel to the agent that never leaves the process.
  std::shared_ptr<grpc::Channel> Channel();

 private:
  explicit InProcessAgent(std::unique_ptr<AgentServer> server);

  std::unique_ptr<AgentServer> server_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_IN_PROCESS_AGENT_H_
