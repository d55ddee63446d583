#include "client/hub_settings.h"

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "llorch/pool/v1/agent.grpc.pb.h"

namespace llorch {

HubHandOver PlanHubHandOver(const HubEnvironment& mine, const std::string& agent_endpoint,
                            bool agent_offline, bool secrets_may_travel, const std::string& agent) {
  HubHandOver plan;
  if (mine.endpoint_set && mine.endpoint != agent_endpoint) {
    plan.warnings.push_back(
        absl::StrCat("your HF_ENDPOINT is ", mine.endpoint, ", but the ", agent, " downloads from ",
                     agent_endpoint,
                     ": the Hub is the agent's (set HF_ENDPOINT where it runs, or use "
                     "--standalone to download from yours)"));
  }
  if (mine.offline_set && mine.offline != agent_offline) {
    plan.warnings.push_back(
        mine.offline
            ? absl::StrCat("your HF_HUB_OFFLINE says offline, but the ", agent,
                           " is online: it reaches ", agent_endpoint,
                           " for what is not on disk (use --standalone to stay offline)")
            : absl::StrCat("your HF_HUB_OFFLINE says online, but the ", agent,
                           " is offline (its HF_HUB_OFFLINE): it downloads nothing that is not "
                           "on disk"));
  }
  if (mine.token.empty()) return plan;
  const std::string not_passing =
      absl::StrCat("not passing your Hub token (", mine.token_source, ") to the ", agent, ": ");
  if (mine.endpoint != agent_endpoint) {
    plan.warnings.push_back(absl::StrCat(not_passing, "it is for ", mine.endpoint,
                                         ", and the agent downloads from ", agent_endpoint,
                                         "; the agent uses its own token, if it has one"));
    return plan;
  }
  if (!secrets_may_travel) {
    plan.warnings.push_back(absl::StrCat(
        not_passing,
        "the connection is plaintext TCP to another host, where anyone on the path could read "
        "it; use TLS (--tls-ca FILE) or a loopback address (an SSH tunnel)"));
    return plan;
  }
  if (const std::string problem = HubTokenProblem(mine.token); !problem.empty()) {
    plan.warnings.push_back(absl::StrCat(not_passing, problem));
    return plan;
  }
  plan.token = mine.token;
  return plan;
}

std::string HubTokenToPass(Session& session) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok() || session.standalone()) return "";
  pool::v1::HostInfo info;
  auto stub = pool::v1::AgentService::NewStub(*channel);
  if (!stub->GetHostInfo(session.NewCallContext().get(), pool::v1::GetHostInfoRequest(), &info)
           .ok() ||
      info.hub_endpoint().empty()) {
    return "";
  }
  const HubEnvironment mine = ReadHubEnvironment(session.env());
  const HubHandOver plan = PlanHubHandOver(mine, info.hub_endpoint(), info.hub_offline(),
                                           session.SecretsMayTravel(), session.AgentDescription());
  for (const std::string& warning : plan.warnings) {
    std::fprintf(stderr, "%s\n",
                 session.err_style().Paint("warning: " + warning, Color::kYellow).c_str());
  }
  if (!plan.token.empty()) {
    session.Verbose(
        1, absl::StrCat("passing the Hub token from ", mine.token_source, " with the request"));
  }
  return plan.token;
}

void AddHubToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata(kHubTokenMetadataKey, token);
}

}  // namespace llorch
