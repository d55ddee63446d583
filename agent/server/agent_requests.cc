#include "agent/server/agent_requests.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/rpc/request_rules.h"

namespace llorch {

bool IsInstanceId(absl::string_view id) {
  if (id.size() != 32) return false;
  for (char c : id) {
    if (!absl::ascii_isdigit(c) && !(c >= 'a' && c <= 'f')) return false;
  }
  return true;
}

absl::Status Validate(const pool::v1::GetHostInfoRequest& request) {
  return CheckRequestRules(request);
}

absl::Status Validate(const pool::v1::WatchEventsRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (request.agent_instance_id().empty() || IsInstanceId(request.agent_instance_id())) {
    return absl::OkStatus();
  }
  return InvalidField(
      "agent_instance_id",
      absl::StrCat(ShowValue(request.agent_instance_id()),
                   " is not an agent instance id: ids are 32 lower-case hex digits, as "
                   "HostInfo.instance_id and every AgentEvent carry them"),
      "pass the agent_instance_id of the last event you read, or leave it empty");
}

}  // namespace llorch
