#include "agent/rpc/stream_admission.h"

#include <string>

#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {

absl::Status CheckStreamAdmitted(const grpc::ServerContextBase& context) {
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find(kStreamRefusedKey);
  if (found == metadata.end()) return absl::OkStatus();
  return WithReason(
      WithHint(
          absl::ResourceExhaustedError(std::string(found->second.data(), found->second.size())),
          "end one of them (an operation goes on without its stream: `llorch-pool ops "
          "watch ID` follows it again), or raise agent.max_streams_per_peer"),
      reasons::kTooManyStreams);
}

}  // namespace llorch
