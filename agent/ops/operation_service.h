// OperationService: lists, gets, watches and cancels the operations in the agent's
// OperationRegistry, whichever client or service started them.
#ifndef LLORCH_AGENT_OPS_OPERATION_SERVICE_H_
#define LLORCH_AGENT_OPS_OPERATION_SERVICE_H_

#include <memory>

#include "agent/ops/operation_registry.h"
#include "llorch/pool/v1/operation.grpc.pb.h"

namespace llorch {

class OperationServiceImpl final : public pool::v1::OperationService::Service {
 public:
  explicit OperationServiceImpl(std::shared_ptr<OperationRegistry> operations)
      : operations_(std::move(operations)) {}

  grpc::Status ListOperations(grpc::ServerContext*, const pool::v1::ListOperationsRequest*,
                              pool::v1::ListOperationsResponse*) override;
  grpc::Status GetOperation(grpc::ServerContext*, const pool::v1::GetOperationRequest*,
                            pool::v1::Operation*) override;
  grpc::Status WatchOperation(grpc::ServerContext*, const pool::v1::WatchOperationRequest*,
                              grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status CancelOperation(grpc::ServerContext*, const pool::v1::CancelOperationRequest*,
                               pool::v1::Operation*) override;

 private:
  std::shared_ptr<OperationRegistry> operations_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_OPERATION_SERVICE_H_
