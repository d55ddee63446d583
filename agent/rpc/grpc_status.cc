#include "agent/rpc/grpc_status.h"

#include <map>
#include <optional>
#include <string>

#include "common/status.h"

namespace llorch {

pool::v1::RpcStatus ToRpcStatus(absl::StatusCode code, absl::string_view message,
                                const absl::Status& details_from) {
  pool::v1::RpcStatus rpc_status;
  rpc_status.set_code(static_cast<int32_t>(code));
  rpc_status.set_message(std::string(message));
  std::optional<std::string> hint = GetHint(details_from);
  std::optional<std::string> reason = GetReason(details_from);
  std::map<std::string, std::string> metadata = GetMetadata(details_from);
  if (hint || reason || !metadata.empty()) {
    pool::v1::ErrorHint detail;
    if (hint) detail.set_hint(*hint);
    if (reason) detail.set_reason(*reason);
    detail.mutable_metadata()->insert(metadata.begin(), metadata.end());
    rpc_status.add_details()->PackFrom(detail);
  }
  return rpc_status;
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string message(status.message());
  pool::v1::RpcStatus rpc_status = ToRpcStatus(status.code(), message, status);
  if (rpc_status.details().empty()) return grpc::Status(code, message);
  return grpc::Status(code, message, rpc_status.SerializeAsString());
}

}  // namespace llorch
