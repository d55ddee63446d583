#include "agent/ops/operation_service.h"

#include "agent/server/grpc_status.h"

namespace llorch {
namespace v1 = pool::v1;

grpc::Status OperationServiceImpl::ListOperations(grpc::ServerContext*,
                                                  const v1::ListOperationsRequest*,
                                                  v1::ListOperationsResponse*) {
  return NotAvailableYet("ops list");
}

grpc::Status OperationServiceImpl::GetOperation(grpc::ServerContext*,
                                                const v1::GetOperationRequest*, v1::Operation*) {
  return NotAvailableYet("ops get");
}

grpc::Status OperationServiceImpl::WatchOperation(grpc::ServerContext*,
                                                  const v1::WatchOperationRequest*,
                                                  grpc::ServerWriter<v1::OperationEvent>*) {
  return NotAvailableYet("ops watch");
}

grpc::Status OperationServiceImpl::CancelOperation(grpc::ServerContext*,
                                                   const v1::CancelOperationRequest*,
                                                   v1::Operation*) {
  return NotAvailableYet("ops cancel");
}

}  // namespace llorch
