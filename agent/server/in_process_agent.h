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
struct AgentContext;

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

  // True while no operation was started in it (no download, verification, git command, worker
  // spawn or stop): every call it answered has finished and left nothing running, so the
  // process may end without stopping it in order. (Its once-a-second log rotation, if cut short,
  // is done again at the next check, as after a crash: copy-then-truncate repeats lines, never
  // loses them.)
  bool Idle() const;

 private:
  InProcessAgent(std::shared_ptr<const AgentContext> context, std::unique_ptr<AgentServer> server);

  std::shared_ptr<const AgentContext> context_;
  std::unique_ptr<AgentServer> server_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_IN_PROCESS_AGENT_H_
