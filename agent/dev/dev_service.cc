#include "agent/dev/dev_service.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/dev/config_check.h"
#include "agent/dev/dev_requests.h"
#include "agent/git/git_service.h"
#include "agent/models/model_service.h"
#include "agent/ops/operation_stream.h"
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
  options.config_sources = config.sources;
  return options;
}

SetupOptions SetupOptionsFor(const Config& config, DoctorOptions doctor, DownloadSettings download,
                             const Environment& env) {
  SetupOptions options;
  options.doctor = std::move(doctor);
  options.download = std::move(download);
  options.default_model = config.workers.default_model;
  options.config_file =
      config.sources.user_file.empty() ? UserConfigFile(env) : config.sources.user_file;
  auto path = env.find("PATH");
  if (path != env.end()) options.path_env = path->second;
  options.python = config.convert.python;
  return options;
}

DevServiceImpl::DevServiceImpl(DoctorOptions doctor, ConfigCheckOptions config_check,
                               SetupOptions setup, std::shared_ptr<OperationRegistry> operations)
    : doctor_(std::move(doctor)),
      config_check_(std::move(config_check)),
      setup_(std::make_shared<const SetupOptions>(std::move(setup))),
      operations_(std::move(operations)) {}

void DevServiceImpl::SetOwnPorts(std::function<std::set<int>()> own_ports) {
  own_ports_ = std::move(own_ports);
}

grpc::Status DevServiceImpl::RunDoctor(grpc::ServerContext*, const v1::RunDoctorRequest* request,
                                       v1::RunDoctorResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  *response = llorch::RunDoctor(doctor_, {request->names().begin(), request->names().end()});
  return grpc::Status::OK;
}

grpc::Status DevServiceImpl::RunSetup(grpc::ServerContext* server_context,
                                      const v1::RunSetupRequest* request,
                                      grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  if (!request->model_id().empty()) {
    absl::StatusOr<const CatalogModel*> model = setup_->doctor.catalog->Lookup(request->model_id());
    if (!model.ok()) return ToGrpcStatus(model.status());
  }
  SetupRequest setup;
  for (const std::string& name : SetupStepNames()) {
    if (std::find(request->skip_steps().begin(), request->skip_steps().end(), name) !=
        request->skip_steps().end()) {
      setup.skip.push_back(name);
    }
  }
  setup.model_id = request->model_id();
  setup.dry_run = request->dry_run();
  setup.force = request->force();
  // The same request joins the set-up already at work on it.
  const std::string join_key =
      absl::StrCat("dev.setup:", setup.model_id, ":", absl::StrJoin(setup.skip, ","),
                   setup.dry_run ? ":dry-run" : "", setup.force ? ":force" : "");
  return StartAndStream(
      *operations_, *request, "dev.setup", "", join_key,
      [options = setup_, setup](Operation& op) { llorch::RunSetup(*options, setup, op); },
      server_context, writer);
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
