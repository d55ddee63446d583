#include "agent/server/grpc_status.h"

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "llorch/pool/v1/common.pb.h"

namespace llorch {

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string message(status.message());
  std::optional<std::string> hint = GetHint(status);
  std::optional<std::string> reason = GetReason(status);
  if (!hint && !reason) return grpc::Status(code, message);

  pool::v1::ErrorHint detail;
  if (hint) detail.set_hint(*hint);
  if (reason) detail.set_reason(*reason);
  pool::v1::RpcStatus rpc_status;
  rpc_status.set_code(static_cast<int32_t>(code));
  rpc_status.set_message(message);
  rpc_status.add_details()->PackFrom(detail);
  return grpc::Status(code, message, rpc_status.SerializeAsString());
}

grpc::Status NotAvailableYet(absl::string_view command) {
  return ToGrpcStatus(WithReason(
      WithHint(absl::UnimplementedError(
                   absl::StrCat("`llorch-pool ", command, "` is not available yet in this agent")),
               "this command is part of the API but arrives in a later release of pool-agent"),
      "NOT_AVAILABLE_YET"));
}

}  // namespace llorch
