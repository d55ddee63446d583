// Table renderings of OperationService responses for `llorch-pool ops ...`.
#ifndef LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_
#define LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_

#include <string>

#include "client/render/style.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

// SUCCEEDED, FAILED or CANCELLED.
bool IsFinished(pool::v1::OperationState state);

std::string RenderOperations(const pool::v1::ListOperationsResponse& response, const Style& style);
std::string RenderOperation(const pool::v1::Operation& operation, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_
