// Translation of errors (absl::Status) into what the API sends: the one mapping every service,
// the interceptor and the operations use.
//
// The code and message carry over unchanged. A hint, reason or metadata attached with WithHint(),
// WithReason() or WithMetadata() (common/status.h) travels as an llorch.pool.v1.ErrorHint inside an
// RpcStatus (wire-compatible with google.rpc.Status): in the `grpc-status-details-bin` trailer of a
// failed call, or as the error of a failed operation.
#ifndef LLORCH_AGENT_RPC_GRPC_STATUS_H_
#define LLORCH_AGENT_RPC_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "llorch/pool/v1/common.pb.h"

namespace llorch {

// `code` and `message`, with the hint, reason and metadata of `details_from` (none: no details).
pool::v1::RpcStatus ToRpcStatus(absl::StatusCode code, absl::string_view message,
                                const absl::Status& details_from);

// The status of a failed call: OK stays OK; details only when there is a hint, reason or
// metadata.
grpc::Status ToGrpcStatus(const absl::Status& status);

}  // namespace llorch

#endif  // LLORCH_AGENT_RPC_GRPC_STATUS_H_
