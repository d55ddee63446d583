// What the agent says about an error besides its code and message: the ErrorHint (hint, reason,
// metadata) in a failed call's `grpc-status-details-bin`, or in an operation's error.
#ifndef LLORCH_TESTS_SUPPORT_ERROR_DETAILS_H_
#define LLORCH_TESTS_SUPPORT_ERROR_DETAILS_H_

#include <grpcpp/support/status.h>

#include "llorch/pool/v1/common.pb.h"

namespace llorch::testing {

// The ErrorHint among the status's details; empty when there is none.
pool::v1::ErrorHint ErrorHintOf(const pool::v1::RpcStatus& status);
pool::v1::ErrorHint ErrorHintOf(const grpc::Status& status);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_ERROR_DETAILS_H_
