#include "agent/ops/cancel_cause.h"

#include "absl/strings/str_cat.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {

absl::Status CancelledByClient(absl::string_view peer, absl::string_view requested_by) {
  absl::Status cause =
      WithMetadata(WithReason(absl::CancelledError(absl::StrCat(
                                  "cancelled by ", requested_by.empty() ? "a client" : requested_by,
                                  " (peer ", peer, ")")),
                              reasons::kCancelledByClient),
                   metadata::kPeer, peer);
  if (requested_by.empty()) return cause;
  return WithMetadata(std::move(cause), metadata::kRequestedBy, requested_by);
}

absl::Status AgentShuttingDown(absl::string_view signal_name) {
  absl::Status cause = WithReason(
      WithHint(absl::CancelledError(
                   absl::StrCat("the agent is shutting down",
                                signal_name.empty() ? "" : absl::StrCat(" (", signal_name, ")"))),
               "start it again once the agent is back; a download resumes where it stopped"),
      reasons::kAgentShutdown);
  if (signal_name.empty()) return cause;
  return WithMetadata(std::move(cause), metadata::kSignal, signal_name);
}

}  // namespace llorch
