// Table renderings of OperationService responses for `llorch-pool ops ...`, and the pieces other
// views of operations share.
#ifndef LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_
#define LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_

#include <string>

#include "client/render/style.h"
#include "client/render/table.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

// SUCCEEDED, FAILED or CANCELLED.
bool IsFinished(pool::v1::OperationState state);

// "14:03:22" in local time; "-" when unset.
std::string TimeOfDay(const google::protobuf::Timestamp& time);

// "running" in cyan, "failed" in red, ...: a state as the views show it.
Cell StateCell(pool::v1::OperationState state);

std::string RenderOperations(const pool::v1::ListOperationsResponse& response, const Style& style);
std::string RenderOperation(const pool::v1::Operation& operation, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_
