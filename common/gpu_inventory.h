// The NVIDIA GPUs of this host, in one place for everything that asks: `agent info`
// (HostInfo.gpus), the doctor's gpu.cuda check and a CUDA spawn's check of its GPU index.
//
// The facts come from NVML (common/nvml.h) when its library can be loaded and initialised, else
// from one run of
//   nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,memory.free,driver_version,
//              compute_cap --format=csv,noheader,nounits
// by argv (asked again without compute_cap by drivers older than 510 that do not know it),
// stopped at its bound: a hung driver makes the report unavailable, with why, never a hung caller.
// One nvidia-smi runs at a time; once one hung, it is not started again for kNvidiaSmiRetryAfter
// (60 s) and reads answer at once with that failure: a poller must not pile up processes stuck
// in the driver. nvidia-smi's man page says its output format is not stable, hence NVML first.
//
// Cheap enough to poll: an NVML session is kept open, and the GPUs' names, uuids, compute
// capabilities and the driver version are read once per session; a Read() then asks NVML only
// for each GPU's memory (microseconds). A GPU that NVML lost ends the session; the next Read()
// starts a new one. NVML's calls run on a thread of the inventory's own, bounded like nvidia-smi:
// a call that hangs in the driver holds that thread, not the caller, who gets the facts as
// unavailable ("NVML did not answer within 5s"), and so do later reads, at once, until it
// returns. Without NVML every Read() runs nvidia-smi (one process, ~tens of ms on a real
// host), as nothing it prints can be had more cheaply. Thread-safe: reads are serialised.
#ifndef LLORCH_COMMON_GPU_INVENTORY_H_
#define LLORCH_COMMON_GPU_INVENTORY_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "common/nvml.h"
#include "common/paths.h"
#include "common/probe.h"

namespace llorch {

// The environment variable that names the NVML library to load instead of libnvidia-ml.so.1: a
// path, for tests (a stand-in library) and for drivers installed where dlopen does not look;
// "none" leaves NVML out and asks nvidia-smi only.
inline constexpr char kNvmlLibraryEnv[] = "LLORCH_NVML_LIBRARY";

struct GpuInventoryOptions {
  std::string nvml_library = kNvmlLibrary;    // "" = do not use NVML
  std::string nvidia_smi = "nvidia-smi";      // a name looked up in `path_env`, or a path
  std::optional<std::string> path_env;        // nullopt: the agent's PATH when Read() runs
  absl::Duration timeout = absl::Seconds(5);  // nvidia-smi's bound
};

// The options from the agent's environment: kNvmlLibraryEnv, and PATH for nvidia-smi.
GpuInventoryOptions GpuInventoryOptionsFor(const Environment& env);

// How long a hung nvidia-smi is remembered instead of run again.
inline constexpr absl::Duration kNvidiaSmiRetryAfter = absl::Seconds(60);

enum class GpuSource { kNone, kNvml, kNvidiaSmi };

// "NVML", "nvidia-smi", "none".
const char* GpuSourceName(GpuSource source);

struct Gpu {
  uint32_t index = 0;
  std::string uuid;
  std::string name;
  bool memory_known = false;  // false: nvidia-smi printed [N/A], or NVML could not say
  uint64_t memory_total_bytes = 0;
  uint64_t memory_used_bytes = 0;
  uint64_t memory_free_bytes = 0;
  std::string compute_capability;  // "8.0"; "" when unknown
};

struct GpuReport {
  // Where the facts came from: NVML, nvidia-smi, or none (neither could be used).
  GpuSource source = GpuSource::kNone;
  // The GPU list is the host's whole list (possibly empty). False when the driver is there but
  // did not answer: `unavailable` says why.
  bool available = false;
  std::vector<Gpu> gpus;  // in index order
  std::string driver_version;
  // Why the facts are unavailable: "nvidia-smi did not answer within 5s and was stopped".
  std::string unavailable;
  // Why NVML was not used, when it was not: "libnvidia-ml.so.1: cannot open shared object file:
  // No such file or directory".
  std::string nvml_problem;
  // When nvidia-smi ran (or was looked for): what it did, for the doctor's words.
  ProbeResult nvidia_smi;
  bool no_devices = false;  // nvidia-smi said "No devices were found"
  std::string malformed;    // the first line of nvidia-smi that is not a GPU; "" when none

  // "0, 1" of the GPUs' indexes.
  std::string Indexes() const;
  const Gpu* Find(uint32_t index) const;
};

// OK when `report` lists CUDA GPU `index`. Otherwise FailedPrecondition with reason
// GPU_NOT_FOUND and a hint: "CUDA GPU 2 does not exist: nvidia-smi lists GPUs 0, 1", or "cannot
// check that CUDA GPU 2 exists: <why the facts are unavailable>".
absl::Status CheckGpuExists(const GpuReport& report, uint32_t index);

class GpuInventory {
 public:
  explicit GpuInventory(GpuInventoryOptions options = {});
  ~GpuInventory();

  // The GPUs as they are now (memory re-read; see above). `timeout` overrides options.timeout.
  GpuReport Read(std::optional<absl::Duration> timeout = std::nullopt);

  const GpuInventoryOptions& options() const { return options_; }

 private:
  struct NvmlThread;

  // Fills `report` from NVML and returns true; false (report->nvml_problem set) when NVML cannot
  // be used. With mu_ held.
  bool ReadNvmlLocked(absl::Duration timeout, GpuReport* report);
  void ReadNvidiaSmi(absl::Duration timeout, GpuReport* report);
  void RunNvidiaSmi(absl::Duration timeout, GpuReport* report) const;

  const GpuInventoryOptions options_;
  std::mutex smi_mu_;                  // one nvidia-smi at a time
  std::optional<GpuReport> smi_hung_;  // the report of the last one that hung
  absl::Time smi_hung_at_;
  std::mutex mu_;                     // one NVML read at a time
  std::shared_ptr<NvmlThread> nvml_;  // started by the first read that uses NVML
};

}  // namespace llorch

#endif  // LLORCH_COMMON_GPU_INVENTORY_H_
