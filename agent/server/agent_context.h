// What the agent is made of: the effective configuration, resolved paths, the catalog and the
// operation registry. The server wires the services from it, giving each only the parts it uses.
//
// Built once when the agent starts (as a daemon or inside the CLI) and read-only afterwards, so
// it may be used from any thread without locking.
#ifndef LLORCH_AGENT_SERVER_AGENT_CONTEXT_H_
#define LLORCH_AGENT_SERVER_AGENT_CONTEXT_H_

#include <filesystem>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/models/catalog.h"
#include "agent/models/catalog_lock.h"
#include "agent/ops/event_bus.h"
#include "agent/ops/operation_registry.h"
#include "common/config.h"

namespace llorch {

struct AgentContext {
  Config config;
  std::filesystem::path repo_root;    // empty when not configured and not inside a git checkout
  std::filesystem::path models_dir;   // absolute
  std::filesystem::path state_dir;    // absolute
  std::filesystem::path working_dir;  // where relative paths of the configuration resolved
  std::shared_ptr<const Catalog> catalog;
  // The catalog's pins (catalog_lock.h); `models lock` replaces them. Never null.
  std::shared_ptr<LockFile> catalog_lock;
  bool in_process = false;  // running inside llorch-pool (standalone mode)
  absl::Time started_at;
  std::string instance_id;  // 32 random hex digits, new at every start (HostInfo.instance_id)
  // What happens on the host, for AgentService.WatchEvents; operations and the model service
  // publish to it. Thread-safe.
  std::shared_ptr<EventBus> events;
  // Long-running operations of every service; thread-safe. Declared last so that it is
  // destroyed first: running work is cancelled and joined while the rest is still alive.
  std::shared_ptr<OperationRegistry> operations;

  // Resolves paths (relative ones against `working_dir`) and loads the catalog (the file named
  // by config.catalog, else the built-in one) and its lock file.
  static absl::StatusOr<std::shared_ptr<const AgentContext>> Create(
      const Config& config, const std::filesystem::path& working_dir, bool in_process);
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_AGENT_CONTEXT_H_
