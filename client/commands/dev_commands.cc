// `llorch-pool dev ...`: host checks, set-up and configuration validation.
#include <memory>
#include <string>

#include "client/cli.h"
#include "client/operation_stream.h"
#include "client/unary_call.h"
#include "llorch/pool/v1/dev.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;
using Stub = v1::DevService::Stub;
}  // namespace

void AddDevCommands(CommandLine& cli) {
  CLI::App* dev = cli.AddGroup(&cli.app(), "dev", "Host checks, set-up and configuration",
                               "  llorch-pool dev doctor\n"
                               "  llorch-pool dev setup\n"
                               "  llorch-pool dev check-config\n");
  cli.AddCommand(dev, "doctor",
                 "Check toolchains, hf CLI, git, submodules, GPUs and disk space, with fixes",
                 "  llorch-pool dev doctor\n", [](Session& s) {
                   return CallUnary<v1::DevService>(s, &Stub::RunDoctor, v1::RunDoctorRequest());
                 });

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
