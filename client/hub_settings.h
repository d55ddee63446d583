// The CLI's HuggingFace Hub settings next to the agent's, for the commands that make the agent
// reach the Hub (`models download`, `models verify`). Credentials follow the operator: the
// token hf would use here (HF_TOKEN, else the `hf auth login` file; common/hub_env.h) goes with
// each request to the agent (metadata x-llorch-hub-token, model.proto), for that operation only.
// The agent's Hub is the agent's own (HostInfo.hub_endpoint, hub_offline): where this
// environment sets HF_ENDPOINT or HF_HUB_OFFLINE otherwise, the CLI says so instead of letting
// the agent's settings apply unnoticed.
#ifndef LLORCH_CLIENT_HUB_SETTINGS_H_
#define LLORCH_CLIENT_HUB_SETTINGS_H_

#include <grpcpp/client_context.h>

#include <string>
#include <vector>

#include "client/session.h"
#include "common/hub_env.h"

namespace llorch {

// What `mine` (this environment) and the agent's Hub settings mean for a request: warnings for
// stderr and the token to pass along ("" for none). The token is passed only when the agent
// downloads from the Hub it is for (mine.endpoint, set or default) and the connection may carry
// a secret (`secrets_may_travel`: not plaintext TCP off this host); otherwise a warning says
// why it stays here. `agent` names the agent, e.g. "agent at unix:/run/llorch/pool-agent.sock".
struct HubHandOver {
  std::vector<std::string> warnings;
  std::string token;
};
HubHandOver PlanHubHandOver(const HubEnvironment& mine, const std::string& agent_endpoint,
                            bool agent_offline, bool secrets_may_travel, const std::string& agent);

// Connects (if not yet), asks a pool-agent process for its Hub settings (GetHostInfo), prints
// PlanHubHandOver's warnings on stderr and returns its token. Nothing to do for an agent in this
// process (it reads this environment) or when the agent cannot say (an older agent, or none
// answers: the command's own call reports that): "".
std::string HubTokenToPass(Session& session);

// Adds `token` (when not empty) to `context` as the metadata x-llorch-hub-token.
void AddHubToken(grpc::ClientContext* context, const std::string& token);

}  // namespace llorch

#endif  // LLORCH_CLIENT_HUB_SETTINGS_H_
