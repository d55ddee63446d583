// Translation of domain errors (absl::Status) into gRPC statuses at the service edge.
//
// The code and message carry over unchanged. A hint or reason attached with WithHint() or
// WithReason() travels as an llorch.pool.v1.ErrorHint inside the RpcStatus (wire-compatible with
// google.rpc.Status) that gRPC sends in the `grpc-status-details-bin` trailer.
#ifndef LLORCH_AGENT_SERVER_GRPC_STATUS_H_
#define LLORCH_AGENT_SERVER_GRPC_STATUS_H_

#include <grpcpp/support/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

grpc::Status ToGrpcStatus(const absl::Status& status);

// UNIMPLEMENTED for an RPC that a later release delivers, naming the CLI command it backs.
grpc::Status NotAvailableYet(absl::string_view command);

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_GRPC_STATUS_H_
