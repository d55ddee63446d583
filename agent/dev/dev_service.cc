#include "agent/dev/dev_service.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "agent/dev/config_check.h"
#include "agent/dev/dev_requests.h"
#include "agent/git/git_service.h"
#include "agent/models/model_service.h"
#include "agent/rpc/grpc_status.h"
#include "common/local_ports.h"

namespace llorch {
namespace v1 = pool::v1;

DoctorOptions DoctorOptionsFor(const Config& config, const std::filesystem::path& repo_root,
                               const std::filesystem::path& models_dir,
                               const std::filesystem::path& state_dir,
                               std::shared_ptr<const Catalog> catalog, const Environment& env) {
  const DownloadSettings download = DownloadSettingsFor(config, repo_root, env);
  DoctorOptions options;
  options.hf_command = download.hf.hf_command;
  options.download_backend = download.backend;
  options.converter = download.convert;
  options.hub = download.hub;
  options.repo = GitRepoOptionsFor(config, repo_root, models_dir, state_dir);
  options.git = options.repo.git.git;
  options.rustc = options.repo.rustc;
  options.cargo = options.repo.cargo;
  options.models_dir = models_dir;
  options.catalog = std::move(catalog);
  ConfigSources sources;
  sources.env = env;
  options.config_files = ConfigFilePaths(sources);
  // A --config file is the origin of the values it set.
  for (const auto& [key, origin] : config.origin) {
    if (origin == "default" || absl::StartsWith(origin, "env ") ||
        absl::StartsWith(origin, "flag ")) {
      continue;
    }
    if (std::find(options.config_files.begin(), options.config_files.end(), origin) ==
        options.config_files.end()) {
      options.config_files.push_back(origin);
    }
  }
  return options;
}

DevServiceImpl::DevServiceImpl(DoctorOptions doctor, ConfigCheckOptions config_check)
    : doctor_(std::move(doctor)), config_check_(std::move(config_check)) {}

void DevServiceImpl::SetOwnPorts(std::function<std::set<int>()> own_ports) {
  own_ports_ = std::move(own_ports);
}

grpc::Status DevServiceImpl::RunDoctor(grpc::ServerContext*, const v1::RunDoctorRequest* request,
                                       v1::RunDoctorResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  *response = llorch::RunDoctor(doctor_, {request->names().begin(), request->names().end()});
  return grpc::Status::OK;
}

grpc::Status DevServiceImpl::RunSetup(grpc::ServerContext*, const v1::RunSetupRequest*,
                                      grpc::ServerWriter<v1::OperationEvent>*) {
  return NotAvailableYet("dev setup");
}

grpc::Status DevServiceImpl::CheckConfig(grpc::ServerContext*,
                                         const v1::CheckConfigRequest* request,
                                         v1::CheckConfigResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  ConfigHostFacts host;
  host.working_dir = config_check_.working_dir;
  host.uid = geteuid();
  host.ephemeral_ports = EphemeralPortRange();
  host.port_free = PortIsFree;
  if (own_ports_) host.own_ports = own_ports_();
  host.in_process = config_check_.in_process;
  auto path = config_check_.sources.env.find("PATH");
  if (path != config_check_.sources.env.end()) host.path_env = path->second;
  *response = CheckConfiguration(config_check_.sources, host);
  return grpc::Status::OK;
}

}  // namespace llorch
