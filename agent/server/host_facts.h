// What HostInfo says about what this host can run, gathered from the domains when GetHostInfo
// asks: the GPUs (common/gpu_inventory.h), the backends (the host's support and each worker
// program, looked up in the agent's PATH), the models dir's space and the downloaded models
// (the model store), the live workers and their ports (the worker manager), and the checkout's
// HEAD (one `git rev-parse`).
//
// Cheap enough to poll: the GPU inventory keeps what does not change and re-reads memory; the
// backends' program paths are kept for 30 s (so a program installed meanwhile shows up within
// that); the rest is read at every call. A fact that cannot be had says why in its own field;
// Describe never fails. Thread-safe.
#ifndef LLORCH_AGENT_SERVER_HOST_FACTS_H_
#define LLORCH_AGENT_SERVER_HOST_FACTS_H_

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "agent/git/git_repo.h"
#include "agent/models/catalog.h"
#include "agent/workers/worker_manager.h"
#include "common/gpu_inventory.h"
#include "llorch/pool/v1/agent.pb.h"

namespace llorch {

class HostFacts {
 public:
  struct Sources {
    std::shared_ptr<GpuInventory> gpus;
    // The worker program (argv[0] of its template) of each backend, and where names are looked
    // up (the agent's PATH).
    std::map<pool::v1::Backend, std::string> programs;
    std::string path_env;
    std::shared_ptr<const Catalog> catalog;
    std::filesystem::path models_dir;
    std::shared_ptr<WorkerManager> workers;
    std::optional<GitRepoOptions> repo;  // nullopt when the agent manages no checkout
  };

  explicit HostFacts(Sources sources);

  // Fills HostInfo's gpus, backends, models_disk, models, live_workers, worker_ports and repo.
  void Describe(pool::v1::HostInfo* info);

 private:
  // The absolute path of `program`, or "" when not found; kept for 30 s.
  std::string ProgramPath(const std::string& program);

  const Sources sources_;
  std::mutex mu_;
  struct Found {
    std::string path;
    absl::Time at;
  };
  std::map<std::string, Found> programs_;  // by program as configured
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_HOST_FACTS_H_
