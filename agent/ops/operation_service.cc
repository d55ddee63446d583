#include "agent/ops/operation_service.h"

#include <vector>

#include "agent/ops/cancel_cause.h"
#include "agent/ops/operation_requests.h"
#include "agent/ops/operation_stream.h"
#include "agent/rpc/grpc_status.h"

namespace llorch {
namespace v1 = pool::v1;

grpc::Status OperationServiceImpl::ListOperations(grpc::ServerContext*,
                                                  const v1::ListOperationsRequest* request,
                                                  v1::ListOperationsResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  std::vector<v1::OperationState> states;
  for (int state : request->states()) states.push_back(static_cast<v1::OperationState>(state));
  for (v1::Operation& operation : operations_->List(states, request->kind())) {
    *response->add_operations() = std::move(operation);
  }
  return grpc::Status::OK;
}

grpc::Status OperationServiceImpl::GetOperation(grpc::ServerContext*,
                                                const v1::GetOperationRequest* request,
                                                v1::Operation* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<std::shared_ptr<Operation>> operation = operations_->Find(request->id());
  if (!operation.ok()) return ToGrpcStatus(operation.status());
  *response = (*operation)->Snapshot();
  return grpc::Status::OK;
}

grpc::Status OperationServiceImpl::WatchOperation(grpc::ServerContext* context,
                                                  const v1::WatchOperationRequest* request,
                                                  grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<std::shared_ptr<Operation>> operation = operations_->Find(request->id());
  if (!operation.ok()) return ToGrpcStatus(operation.status());
  // The shared_ptr keeps the operation alive even if the history forgets it meanwhile.
  AnnounceRole(context, operation_metadata::kRoleWatching);
  return StreamOperation(context, **operation, request->after_sequence(), writer);
}

grpc::Status OperationServiceImpl::CancelOperation(grpc::ServerContext* context,
                                                   const v1::CancelOperationRequest* request,
                                                   v1::Operation* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<v1::Operation> operation = operations_->Cancel(
      request->id(), CancelledByClient(context->peer(), request->requested_by()));
  if (!operation.ok()) return ToGrpcStatus(operation.status());
  *response = std::move(*operation);
  return grpc::Status::OK;
}

}  // namespace llorch
