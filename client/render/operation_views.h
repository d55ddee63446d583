// Table renderings of OperationService responses for `llorch-pool ops ...`, and the pieces other
// views of operations share.
#ifndef LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_
#define LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_

#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/render/style.h"
#include "client/render/table.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

// SUCCEEDED, FAILED or CANCELLED.
bool IsFinished(pool::v1::OperationState state);

// "14:03:22" in local time; "-" when unset.
std::string TimeOfDay(const google::protobuf::Timestamp& time);

// When an operation was created, in local time: "14:03:22" today, "Dec 03 14:03" before;
// "-" when unset.
std::string StartTime(const google::protobuf::Timestamp& time, absl::Time now);

// How long it ran (created to finished), or has run until `now`: "42s", "3m05s", "2h07m",
// "3d04h".
std::string Elapsed(const pool::v1::Operation& operation, absl::Time now);

// "running" in cyan, "failed" in red, ...: a state as the views show it.
Cell StateCell(pool::v1::OperationState state);

// The operations as a table: id, kind, target, state, started, elapsed, progress, started by.
std::string RenderOperations(const pool::v1::ListOperationsResponse& response, const Style& style,
                             absl::Time now = absl::Now());
std::string RenderOperation(const pool::v1::Operation& operation, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_OPERATION_VIEWS_H_
