// What the worker domain takes from the agent's configuration (common/config.h, [workers]):
// per backend the argv template, how readiness is learnt and the stop signal; the port range for
// default ports; the ready-callback listener's port; how long a spawn waits for readiness; the
// size cap of the workers' logs; the backoff and start limit of restarts.
#ifndef LLORCH_AGENT_WORKERS_WORKER_SETTINGS_H_
#define LLORCH_AGENT_WORKERS_WORKER_SETTINGS_H_

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/config.h"
#include "common/gpu_inventory.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {

struct BackendSettings {
  std::vector<std::string> argv;  // template; placeholders as in Config::WorkerBackend
  bool ready_by_health = false;   // poll GET /health (503 = loading) instead of the callback
  int stop_signal = 0;            // e.g. SIGINT
};

struct WorkerSettings {
  std::filesystem::path state_dir;  // workers/ (state files) and logs/ live below it
  std::string default_model;
  int port_first = 8001;
  int port_last = 8999;
  // The loopback ready-callback listener's port; 0 = an ephemeral one (the CLI's in-process
  // agent, whose listener lives only while the CLI waits).
  int callback_port = 9201;
  // Inside the CLI: nobody answers a worker's callback once the CLI has exited.
  bool in_process = false;
  absl::Duration ready_timeout = absl::Seconds(300);
  absl::Duration stop_timeout = absl::Seconds(30);  // from the stop signal to SIGKILL
  uint64_t log_max_bytes = 10 << 20;  // a live worker's log is rotated once bigger (log_rotation.h)
  int log_max_files = 3;              // rotated copies kept: <id>.log.1 (newest) .. <id>.log.N
  // Restart on-failure (RestartPolicy in worker.proto).
  absl::Duration restart_backoff_initial = absl::Seconds(1);
  absl::Duration restart_backoff_max = absl::Seconds(60);
  int start_limit_burst = 5;
  absl::Duration start_limit_interval = absl::Minutes(5);
  std::map<pool::v1::Backend, BackendSettings> backends;
  // Where argv[0] names without '/' are looked up (the agent's PATH).
  std::string path_env;
  // The host's GPUs, for a CUDA spawn's GPU check; the agent shares one among its services.
  std::shared_ptr<GpuInventory> gpus;
};

WorkerSettings WorkerSettingsFor(const Config& config, const std::filesystem::path& state_dir,
                                 bool in_process, std::string path_env);

// "cpu", "cuda", "metal" ("unspecified" for BACKEND_UNSPECIFIED).
std::string BackendName(pool::v1::Backend backend);

// The backend named so by BackendName; BACKEND_UNSPECIFIED for anything else.
pool::v1::Backend BackendNamed(absl::string_view name);

// `argv_template` with every {name} in `values` replaced (config.cc refuses unknown names).
std::vector<std::string> ExpandArgv(const std::vector<std::string>& argv_template,
                                    const std::map<std::string, std::string>& values);

// The signal named "SIGINT", "SIGTERM", "SIGQUIT" or "SIGHUP"; SIGINT for anything else.
int SignalNamed(absl::string_view name);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_SETTINGS_H_
