// What AgentService accepts, as agent.proto says, checked before anything runs: the rules of
// every request (agent/rpc/request_rules.h), and for WatchEvents an agent_instance_id that is
// empty or of the form the agent gives (32 lower-case hex digits, HostInfo.instance_id). A
// malformed one is INVALID_ARGUMENT, reason INVALID_REQUEST; a well-formed one of another run of
// the agent is the stream's business (OUT_OF_RANGE, EVENTS_EXPIRED).
#ifndef LLORCH_AGENT_SERVER_AGENT_REQUESTS_H_
#define LLORCH_AGENT_SERVER_AGENT_REQUESTS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "llorch/pool/v1/agent.pb.h"

namespace llorch {

// True for ids of the form HostInfo.instance_id has.
bool IsInstanceId(absl::string_view id);

absl::Status Validate(const pool::v1::GetHostInfoRequest& request);
absl::Status Validate(const pool::v1::WatchEventsRequest& request);

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_AGENT_REQUESTS_H_
