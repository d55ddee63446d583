// What OperationService accepts, as operation.proto says, checked before the registry is asked:
// the rules of every request (agent/rpc/request_rules.h), then operation ids of the form the
// agent gives (a malformed one is INVALID_ARGUMENT, reason INVALID_REQUEST; a well-formed one the
// registry does not know is NOT_FOUND, OPERATION_NOT_FOUND), and list filters that can match:
// a state other than UNSPECIFIED, a kind of dotted lower-case words.
#ifndef LLORCH_AGENT_OPS_OPERATION_REQUESTS_H_
#define LLORCH_AGENT_OPS_OPERATION_REQUESTS_H_

#include "absl/status/status.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

absl::Status Validate(const pool::v1::ListOperationsRequest& request);
absl::Status Validate(const pool::v1::GetOperationRequest& request);
absl::Status Validate(const pool::v1::WatchOperationRequest& request);
absl::Status Validate(const pool::v1::CancelOperationRequest& request);

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_OPERATION_REQUESTS_H_
