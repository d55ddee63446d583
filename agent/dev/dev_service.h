// DevService: host checks, set-up and configuration validation. Part of the v1 API now; every RPC
// answers UNIMPLEMENTED naming its command until the release that delivers it.
#ifndef LLORCH_AGENT_DEV_DEV_SERVICE_H_
#define LLORCH_AGENT_DEV_DEV_SERVICE_H_

#include "llorch/pool/v1/dev.grpc.pb.h"

namespace llorch {

class DevServiceImpl final : public pool::v1::DevService::Service {
 public:
  grpc::Status RunDoctor(grpc::ServerContext*, const pool::v1::RunDoctorRequest*,
                         pool::v1::RunDoctorResponse*) override;
  grpc::Status RunSetup(grpc::ServerContext*, const pool::v1::RunSetupRequest*,
                        grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status CheckConfig(grpc::ServerContext*, const pool::v1::CheckConfigRequest*,
                           pool::v1::CheckConfigResponse*) override;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_DEV_SERVICE_H_
