// Why an operation is cancelled, as Operation::RequestCancel() takes it: a CANCELLED status whose
// message leads the cancelled operation's error and whose reason and metadata (ErrorHint) let an
// orchestrator branch on who stopped it: a client, or the agent going away.
#ifndef LLORCH_AGENT_OPS_CANCEL_CAUSE_H_
#define LLORCH_AGENT_OPS_CANCEL_CAUSE_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

// A client asked (CancelOperation; the CLI's Ctrl-C or `ops cancel`): reason
// CANCELLED_BY_CLIENT, metadata `peer` (the gRPC peer that asked, e.g. "ipv4:10.0.0.5:51234")
// and `requested_by` (what the client said it is; left out when it said nothing).
absl::Status CancelledByClient(absl::string_view peer, absl::string_view requested_by);

// The agent is stopping: reason AGENT_SHUTDOWN, with metadata `signal` ("SIGTERM") when a signal
// stopped it; `signal_name` is "" when the agent ends otherwise (the CLI that ran it in-process
// exits).
absl::Status AgentShuttingDown(absl::string_view signal_name);

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_CANCEL_CAUSE_H_
