#include "tests/support/test_agent.h"

#include <cstdlib>
#include <utility>

#include "common/gpu_inventory.h"

namespace llorch::testing {

absl::StatusOr<TestAgent> StartTestAgent(const std::string& root, bool in_process,
                                         const std::vector<Address>& listeners, Config config,
                                         bool insecure) {
  // The host's real NVIDIA driver stays out of tests: GPUs come from the stand-in nvidia-smi a
  // test puts in PATH, or the fake NVML a test names (gpu_inventory.h).
  setenv(kNvmlLibraryEnv, "none", /*overwrite=*/0);
  config.models_dir = root + "/models";
  config.state_dir = root + "/state";
  absl::StatusOr<std::shared_ptr<const AgentContext>> context =
      AgentContext::Create(config, root, in_process);
  if (!context.ok()) return context.status();
  absl::StatusOr<std::unique_ptr<AgentServer>> server =
      AgentServer::Start(*context, listeners, insecure);
  if (!server.ok()) return server.status();
  return TestAgent{*std::move(context), *std::move(server)};
}

}  // namespace llorch::testing
