#include "agent/dev/dev_service.h"

#include "agent/rpc/grpc_status.h"

namespace llorch {
namespace v1 = pool::v1;

grpc::Status DevServiceImpl::RunDoctor(grpc::ServerContext*, const v1::RunDoctorRequest*,
                                       v1::RunDoctorResponse*) {
  return NotAvailableYet("dev doctor");
}

grpc::Status DevServiceImpl::RunSetup(grpc::ServerContext*, const v1::RunSetupRequest*,
                                      grpc::ServerWriter<v1::OperationEvent>*) {
  return NotAvailableYet("dev setup");
}

grpc::Status DevServiceImpl::CheckConfig(grpc::ServerContext*, const v1::CheckConfigRequest*,
                                         v1::CheckConfigResponse*) {
  return NotAvailableYet("dev check-config");
}

}  // namespace llorch
