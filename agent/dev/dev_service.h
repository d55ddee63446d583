// DevService: the gRPC adapter over the doctor (doctor.h). Thin: it validates the request
// (dev_requests.h), runs the checks and returns their outcomes. RunSetup and CheckConfig answer
// UNIMPLEMENTED naming their command until the release that delivers them.
#ifndef LLORCH_AGENT_DEV_DEV_SERVICE_H_
#define LLORCH_AGENT_DEV_DEV_SERVICE_H_

#include <filesystem>
#include <memory>

#include "agent/dev/doctor.h"
#include "common/config.h"
#include "llorch/pool/v1/dev.grpc.pb.h"

namespace llorch {

// The doctor's options from the agent's configuration and environment (HF_ENDPOINT,
// HF_HUB_OFFLINE, the configuration files' places): the same programs, checkout, models dir and
// Hub the other services use.
DoctorOptions DoctorOptionsFor(const Config& config, const std::filesystem::path& repo_root,
                               const std::filesystem::path& models_dir,
                               const std::filesystem::path& state_dir,
                               std::shared_ptr<const Catalog> catalog, const Environment& env);

class DevServiceImpl final : public pool::v1::DevService::Service {
 public:
  explicit DevServiceImpl(DoctorOptions doctor);

  grpc::Status RunDoctor(grpc::ServerContext*, const pool::v1::RunDoctorRequest*,
                         pool::v1::RunDoctorResponse*) override;
  grpc::Status RunSetup(grpc::ServerContext*, const pool::v1::RunSetupRequest*,
                        grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status CheckConfig(grpc::ServerContext*, const pool::v1::CheckConfigRequest*,
                           pool::v1::CheckConfigResponse*) override;

 private:
  const DoctorOptions doctor_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_DEV_SERVICE_H_
