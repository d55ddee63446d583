// DevService: the gRPC adapter over the doctor (doctor.h), the set-up (setup.h) and the
// configuration check (config_check.h). Thin: it validates the request (dev_requests.h), runs
// the checks and returns their outcomes, or starts the set-up as a "dev.setup" operation.
#ifndef LLORCH_AGENT_DEV_DEV_SERVICE_H_
#define LLORCH_AGENT_DEV_DEV_SERVICE_H_

#include <filesystem>
#include <functional>
#include <memory>
#include <set>
#include <string>

#include "agent/dev/doctor.h"
#include "agent/dev/setup.h"
#include "agent/models/model_download.h"
#include "agent/ops/operation_registry.h"
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

// The set-up's options: the doctor's, the downloads', and the user configuration file of the
// agent's configuration layers.
SetupOptions SetupOptionsFor(const Config& config, DoctorOptions doctor, DownloadSettings download,
                             const Environment& env);

// What the configuration check needs of the agent.
struct ConfigCheckOptions {
  ConfigSources sources;    // the layers the agent's configuration was loaded from
  std::string working_dir;  // the agent's, where relative paths resolve
  bool in_process = false;  // the CLI's agent: it binds none of the configured listeners
};

class DevServiceImpl final : public pool::v1::DevService::Service {
 public:
  DevServiceImpl(DoctorOptions doctor, ConfigCheckOptions config_check, SetupOptions setup,
                 std::shared_ptr<OperationRegistry> operations);

  // The TCP ports this agent holds (its listeners, its ready-callback listener): the check
  // counts them as free for it. Wired by server/, which knows the listeners and the workers
  // (dev/ knows neither). Without it, every port in use counts as another process's.
  void SetOwnPorts(std::function<std::set<int>()> own_ports);

  grpc::Status RunDoctor(grpc::ServerContext*, const pool::v1::RunDoctorRequest*,
                         pool::v1::RunDoctorResponse*) override;
  grpc::Status RunSetup(grpc::ServerContext*, const pool::v1::RunSetupRequest*,
                        grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status CheckConfig(grpc::ServerContext*, const pool::v1::CheckConfigRequest*,
                           pool::v1::CheckConfigResponse*) override;

 private:
  const DoctorOptions doctor_;
  const ConfigCheckOptions config_check_;
  std::shared_ptr<const SetupOptions> setup_;  // shared with the operations' threads
  std::shared_ptr<OperationRegistry> operations_;
  std::function<std::set<int>()> own_ports_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_DEV_SERVICE_H_
