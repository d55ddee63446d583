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

  cli.AddCommand(
      dev, "check-config", "Validate configuration files; show every value and where it came from",
      "  llorch-pool dev check-config\n", [](Session& s) {
        return CallUnary<v1::DevService>(s, &Stub::CheckConfig, v1::CheckConfigRequest());
      });
}

}  // namespace llorch
