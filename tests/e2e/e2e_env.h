// What every end-to-end test needs: the installed binaries and an isolated user environment
// (own HOME, XDG dirs and working directory; no LLORCH_* or NO_COLOR from the caller).
#ifndef LLORCH_TESTS_E2E_E2E_ENV_H_
#define LLORCH_TESTS_E2E_E2E_ENV_H_

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tests/support/run_command.h"

namespace llorch::testing {

inline std::string InstalledBinary(const std::string& name) {
  return std::string(LLORCH_INSTALL_DIR) + "/bin/" + name;
}

class E2eEnvironment {
 public:
  E2eEnvironment() {
    for (const char* dir : {"home", "config", "run", "state", "work"}) {
      std::filesystem::create_directories(Path(dir));
    }
    for (const auto& [key, value] : CurrentEnvironment()) {
      if (key.rfind("LLORCH_", 0) == 0 || key == "NO_COLOR" || key.rfind("XDG_", 0) == 0) continue;
      env_[key] = value;
    }
    env_["HOME"] = Path("home");
    env_["XDG_CONFIG_HOME"] = Path("config");
    env_["XDG_RUNTIME_DIR"] = Path("run");
    env_["XDG_STATE_HOME"] = Path("state");
    // Root's state dir is /var/lib/llorch/pool whatever XDG_STATE_HOME says: keep tests out of it.
    env_["LLORCH_STATE_DIR"] = Path("state/llorch/pool");
    // Outside a checkout root's default models dir is /var/lib/llorch/models: likewise.
    env_["LLORCH_MODELS_DIR"] = models_dir();
    // The host's real NVIDIA driver stays out: GPUs come from a stand-in nvidia-smi in PATH, or
    // a fake NVML a test names here.
    env_["LLORCH_NVML_LIBRARY"] = "none";
  }

  std::string Path(const std::string& relative) const { return temp_.path() + "/" + relative; }
  std::string models_dir() const { return Path("work/.test-models"); }  // LLORCH_MODELS_DIR
  std::map<std::string, std::string>& env() { return env_; }

  // Runs llorch-pool (or another installed binary) in the work directory; `options` may say
  // where stdout goes (its env and working directory are this environment's).
  CommandResult Run(const std::vector<std::string>& args, const std::string& binary = "llorch-pool",
                    CommandOptions options = {}) const {
    std::vector<std::string> argv = {InstalledBinary(binary)};
    argv.insert(argv.end(), args.begin(), args.end());
    options.env = env_;
    options.working_dir = Path("work");
    return RunCommand(argv, options);
  }

 private:
  TempDir temp_;
  std::map<std::string, std::string> env_;
};

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_E2E_E2E_ENV_H_
