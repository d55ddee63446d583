// AgentService: facts about this host and this agent, for `llorch-pool agent info` and for
// orchestrators deciding where to place work; and the host's event stream
// (`llorch-pool agent events`).
#ifndef LLORCH_AGENT_SERVER_AGENT_SERVICE_H_
#define LLORCH_AGENT_SERVER_AGENT_SERVICE_H_

#include <memory>
#include <string>
#include <vector>

#include "agent/models/hub/hub_client.h"
#include "agent/server/agent_context.h"
#include "agent/server/bound_addresses.h"
#include "agent/server/host_facts.h"
#include "llorch/pool/v1/agent.grpc.pb.h"

namespace llorch {

// Fills `info` from the running system, `context` and `facts`. Plain function so tests can call
// it.
void DescribeHost(const AgentContext& context, const std::vector<std::string>& listen_addresses,
                  HostFacts& facts, pool::v1::HostInfo* info);

class AgentServiceImpl final : public pool::v1::AgentService::Service {
 public:
  // `hub`: the Hub the model service downloads from (HostInfo.hub_endpoint, hub_offline).
  AgentServiceImpl(std::shared_ptr<const AgentContext> context,
                   std::shared_ptr<const BoundAddresses> addresses,
                   std::shared_ptr<HostFacts> facts, const HubOptions& hub)
      : context_(std::move(context)),
        addresses_(std::move(addresses)),
        facts_(std::move(facts)),
        hub_endpoint_(hub.endpoint),
        hub_offline_(hub.offline) {}

  grpc::Status GetHostInfo(grpc::ServerContext* context,
                           const pool::v1::GetHostInfoRequest* request,
                           pool::v1::HostInfo* response) override;
  grpc::Status WatchEvents(grpc::ServerContext* context,
                           const pool::v1::WatchEventsRequest* request,
                           grpc::ServerWriter<pool::v1::AgentEvent>* writer) override;

 private:
  std::shared_ptr<const AgentContext> context_;
  std::shared_ptr<const BoundAddresses> addresses_;
  std::shared_ptr<HostFacts> facts_;
  const std::string hub_endpoint_;
  const bool hub_offline_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_AGENT_SERVICE_H_
