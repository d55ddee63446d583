// A real agent for integration tests: every service, with its models and state dirs under a
// test's temp dir, reachable in-process and on any listeners given.
#ifndef LLORCH_TESTS_SUPPORT_TEST_AGENT_H_
#define LLORCH_TESTS_SUPPORT_TEST_AGENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/server/agent_context.h"
#include "agent/server/agent_server.h"
#include "common/address.h"
#include "common/config.h"

namespace llorch::testing {

struct TestAgent {
  std::shared_ptr<const AgentContext> context;
  std::unique_ptr<AgentServer> server;
};

// Starts an agent with `config`, except that its models_dir and state_dir are `root`/models and
// `root`/state. `in_process` is what AgentContext::in_process reports (standalone mode). Unless
// the test set LLORCH_NVML_LIBRARY, it is set to "none": no test sees the host's real GPUs.
// `insecure`: TCP listeners without tokens (pool-agent --insecure).
absl::StatusOr<TestAgent> StartTestAgent(const std::string& root, bool in_process,
                                         const std::vector<Address>& listeners = {},
                                         Config config = {}, bool insecure = false);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_TEST_AGENT_H_
