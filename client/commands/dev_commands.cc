// `llorch-pool dev ...`: host checks, set-up and configuration validation.
#include <memory>
#include <string>
#include <vector>

#include "client/cli.h"
#include "client/operation_stream.h"
#include "client/render/dev_views.h"
#include "client/render/errors.h"
#include "client/unary_call.h"
#include "llorch/pool/v1/dev.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;
using Stub = v1::DevService::Stub;

// `dev doctor [NAME...]`: the checks' outcomes; exit 1 when a required check failed.
int RunDoctor(Session& session, const std::vector<std::string>& names) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  v1::RunDoctorRequest request;
  for (const std::string& name : names) request.add_names(name);
  v1::RunDoctorResponse response;
  if (grpc::Status status = v1::DevService::NewStub(*channel)->RunDoctor(
          session.NewCallContext().get(), request, &response);
      !status.ok()) {
    return session.Fail(status);
  }
  PrintResponse(session, response, Renderer<v1::RunDoctorResponse>(RenderDoctor));
  return response.ok() ? kExitOk : kExitFailed;
}

// `dev check-config`: the agent's configuration, checked; exit 1 when it has an error.
int CheckConfig(Session& session) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  v1::CheckConfigResponse response;
  if (grpc::Status status = v1::DevService::NewStub(*channel)->CheckConfig(
          session.NewCallContext().get(), v1::CheckConfigRequest(), &response);
      !status.ok()) {
    return session.Fail(status);
  }
  PrintResponse(session, response, Renderer<v1::CheckConfigResponse>(RenderCheckConfig));
  return response.ok() ? kExitOk : kExitFailed;
}

}  // namespace

void AddDevCommands(CommandLine& cli) {
  CLI::App* dev = cli.AddGroup(&cli.app(), "dev", "Host checks, set-up and configuration",
                               "  llorch-pool dev doctor\n"
                               "  llorch-pool dev setup\n"
                               "  llorch-pool dev check-config\n");
  auto doctor_names = std::make_shared<std::vector<std::string>>();
  CLI::App* doctor = cli.AddCommand(
      dev, "doctor",
      "Check git, hf, Rust, the converter, submodules, the models dir, GPUs, the configuration and "
      "the Hub, each with a fix; exits 1 when a required check fails (optional ones only warn)",
      "  llorch-pool dev doctor\n"
      "  llorch-pool dev doctor gpu.cuda disk.models\n"
      "  llorch-pool dev doctor -o json\n"
      "checks: git hf.cli rust.toolchain python.converter git.submodules disk.models gpu.cuda\n"
      "        gpu.cuda.uvm gpu.metal config hub.reachable\n",
      [doctor_names](Session& s) { return RunDoctor(s, *doctor_names); });
  doctor->add_option("names", *doctor_names, "Checks to run (default: all)");

  auto setup_model = std::make_shared<std::string>();
  CLI::App* setup = cli.AddCommand(
      dev, "setup", "Set the host up: hf CLI, submodules, a first model, default config",
      "  llorch-pool dev setup\n  llorch-pool dev setup --model qwen\n", [setup_model](Session& s) {
        v1::RunSetupRequest request;
        request.set_model_id(*setup_model);
        return RunOperation<v1::DevService>(s, &v1::DevService::Stub::RunSetup, request);
      });
  setup->add_option("--model", *setup_model, "Model to download (default: tinyllama)");

  CLI::App* check_config = cli.AddCommand(
      dev, "check-config",
      "Check the configuration: every file read (present or not), every problem as FILE:LINE "
      "with its fix (unknown keys with the closest known one, wrong types, values out of range, "
      "paths, ports, worker templates), every effective value and where it came from; exits 1 "
      "on an error, 0 with warnings only",
      "  llorch-pool dev check-config                   the answering agent's configuration\n"
      "  llorch-pool --standalone dev check-config      this command's own layers\n"
      "  llorch-pool --standalone --config ./pool.toml dev check-config\n"
      "                                                 a file before installing it\n"
      "  llorch-pool dev check-config -o json\n"
      "Layers, lowest first: defaults, /etc/llorch/pool.toml, $XDG_CONFIG_HOME/llorch/pool.toml,\n"
      "--config FILE, LLORCH_* variables, flags. With errors in this command's own configuration\n"
      "it checks those layers in-process instead of refusing to start.\n",
      [](Session& s) { return CheckConfig(s); });
  cli.AllowConfigErrors(check_config);
}

}  // namespace llorch
