#include "agent/workers/worker_settings.h"

#include <csignal>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

BackendSettings BackendFrom(const Config::WorkerBackend& backend) {
  return BackendSettings{backend.argv, backend.ready == "health", SignalNamed(backend.stop_signal)};
}

}  // namespace

WorkerSettings WorkerSettingsFor(const Config& config, const std::filesystem::path& state_dir,
                                 bool in_process, std::string path_env) {
  WorkerSettings settings;
  settings.state_dir = state_dir;
  settings.default_model = config.workers.default_model;
  settings.port_first = static_cast<int>(config.workers.port_first);
  settings.port_last = static_cast<int>(config.workers.port_last);
  settings.in_process = in_process;
  GpuInventoryOptions gpus;
  gpus.path_env = path_env;
  settings.gpus = std::make_shared<GpuInventory>(std::move(gpus));
  settings.callback_port = in_process ? 0 : static_cast<int>(config.workers.callback_port);
  settings.ready_timeout = absl::Seconds(config.workers.ready_timeout_seconds);
  settings.stop_timeout = absl::Seconds(config.workers.stop_timeout_seconds);
  settings.log_max_bytes = static_cast<uint64_t>(config.workers.log_max_bytes);
  settings.log_max_files = static_cast<int>(config.workers.log_max_files);
  settings.restart_backoff_initial = absl::Milliseconds(config.workers.restart_backoff_initial_ms);
  settings.restart_backoff_max = absl::Milliseconds(config.workers.restart_backoff_max_ms);
  settings.start_limit_burst = static_cast<int>(config.workers.start_limit_burst);
  settings.start_limit_interval = absl::Seconds(config.workers.start_limit_interval_seconds);
  settings.backends[v1::BACKEND_CPU] = BackendFrom(config.workers.cpu);
  settings.backends[v1::BACKEND_CUDA] = BackendFrom(config.workers.cuda);
  settings.backends[v1::BACKEND_METAL] = BackendFrom(config.workers.metal);
  settings.path_env = std::move(path_env);
  return settings;
}

std::string BackendName(v1::Backend backend) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::Backend_Name(backend), "BACKEND_"));
}

v1::Backend BackendNamed(absl::string_view name) {
  for (v1::Backend backend : {v1::BACKEND_CPU, v1::BACKEND_CUDA, v1::BACKEND_METAL}) {
    if (name == BackendName(backend)) return backend;
  }
  return v1::BACKEND_UNSPECIFIED;
}

std::vector<std::string> ExpandArgv(const std::vector<std::string>& argv_template,
                                    const std::map<std::string, std::string>& values) {
  std::vector<std::pair<std::string, std::string>> replacements;
  for (const auto& [name, value] : values)
    replacements.emplace_back(absl::StrCat("{", name, "}"), value);
  std::vector<std::string> argv;
  for (const std::string& element : argv_template) {
    argv.push_back(absl::StrReplaceAll(element, replacements));
  }
  return argv;
}

int SignalNamed(absl::string_view name) {
  if (name == "SIGTERM") return SIGTERM;
  if (name == "SIGQUIT") return SIGQUIT;
  if (name == "SIGHUP") return SIGHUP;
  return SIGINT;
}

}  // namespace llorch
