// `dev doctor`: what the host has and lacks for pool work, each finding with the exact fix, as
// plain domain code (the gRPC adapter is dev_service.h).
//
// Each check is a small unit with a stable name (DoctorCheckNames) that ends OK, WARN, FAIL or
// SKIPPED (not applicable here). A check is required or optional: an optional check that finds
// something missing says WARN, never FAIL, so only required checks decide RunDoctorResponse.ok
// (and `dev doctor`'s exit code). The checks run concurrently; every external command runs by
// argv with `command_timeout` (common/probe.h), and the Hub probe gives up after `hub_timeout`,
// so a hanging nvidia-smi or network costs one bound, not the run. Nothing is changed, except
// that the models dir check creates and removes one temporary file to learn whether it can
// write and lock there. Thread-safe.
#ifndef LLORCH_AGENT_DEV_DOCTOR_H_
#define LLORCH_AGENT_DEV_DOCTOR_H_

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "agent/git/git_repo.h"
#include "agent/models/catalog.h"
#include "agent/models/converter.h"
#include "agent/models/hub/hub_client.h"
#include "common/config.h"
#include "common/gpu_inventory.h"
#include "llorch/pool/v1/dev.pb.h"

namespace llorch {

struct DoctorOptions {
  // Programs: names looked up in the agent's PATH, or paths.
  std::string git = "git";
  std::string hf_command = "hf";  // config download.hf_command
  std::string rustc = "rustc";
  std::string cargo = "cargo";
  std::string download_backend = "native";  // config download.backend: "hf" makes hf.cli required
  ConverterOptions converter;               // python and the checkout holding the converter
  GitRepoOptions repo;                      // the checkout whose submodules are checked
  std::filesystem::path models_dir;         // absolute
  std::shared_ptr<const Catalog> catalog;
  // The layers the agent's configuration was loaded from, walked again as they are now
  // (WalkConfigLayers, as `dev check-config` walks them).
  ConfigSources config_sources;
  HubOptions hub;  // endpoint and offline mode as the downloads use them
  // The host's GPUs (NVML, else nvidia-smi); the agent shares one inventory among its services.
  std::shared_ptr<GpuInventory> gpus = std::make_shared<GpuInventory>();
  std::filesystem::path nvidia_uvm = "/dev/nvidia-uvm";
  absl::Duration command_timeout = absl::Seconds(5);
  absl::Duration hub_timeout = absl::Seconds(5);
};

// Every check, in the order a response lists them: "git", "hf.cli", "rust.toolchain",
// "python.converter", "git.submodules", "disk.models", "gpu.cuda", "gpu.cuda.uvm", "gpu.metal",
// "config", "hub.reachable".
const std::vector<std::string>& DoctorCheckNames();

// Runs the checks named in `names` (all when empty; each once, in DoctorCheckNames' order).
// Names must be DoctorCheckNames' (dev_requests.h checks them); others are left out.
pool::v1::RunDoctorResponse RunDoctor(const DoctorOptions& options,
                                      const std::vector<std::string>& names);

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_DOCTOR_H_
