#include "agent/server/in_process_agent.h"

#include "agent/server/agent_context.h"
#include "agent/server/agent_server.h"

namespace llorch {

InProcessAgent::InProcessAgent(std::shared_ptr<const AgentContext> context,
                               std::unique_ptr<AgentServer> server)
    : context_(std::move(context)), server_(std::move(server)) {}

InProcessAgent::~InProcessAgent() = default;

absl::StatusOr<std::unique_ptr<InProcessAgent>> InProcessAgent::Start(
    const Config& config, const std::filesystem::path& working_dir) {
  absl::StatusOr<std::shared_ptr<const AgentContext>> context =
      AgentContext::Create(config, working_dir, /*in_process=*/true);
  if (!context.ok()) return context.status();
  absl::StatusOr<std::unique_ptr<AgentServer>> server = AgentServer::Start(*context, {});
  if (!server.ok()) return server.status();
  return std::unique_ptr<InProcessAgent>(new InProcessAgent(*context, *std::move(server)));
}

std::shared_ptr<grpc::Channel> InProcessAgent::Channel() { return server_->InProcessChannel(); }

bool InProcessAgent::Idle() const { return context_->operations->List().empty(); }

}  // namespace llorch
