// NVIDIA's management library (NVML, libnvidia-ml.so.1, installed with the driver) loaded at run
// time: dlopen and dlsym of the few functions the GPU inventory uses, with their prototypes and
// constants declared here (Debian main ships no NVML header), so the binaries neither link nor
// need it. A host without the driver simply has no library to load.
//
// An Nvml is one initialised session (nvmlInit_v2 .. nvmlShutdown). Device handles are valid for
// the session; a GPU that falls off the bus answers NVML_ERROR_GPU_IS_LOST, after which the caller
// starts a new session. Not thread-safe: the GPU inventory serialises its calls.
#ifndef LLORCH_COMMON_NVML_H_
#define LLORCH_COMMON_NVML_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace llorch {

// The library the driver installs (its soname); dlopen searches the usual places.
inline constexpr char kNvmlLibrary[] = "libnvidia-ml.so.1";

// What does not change while the session lives.
struct NvmlDevice {
  uint32_t index = 0;
  std::string uuid;                // "GPU-8f5a..."
  std::string name;                // "NVIDIA A100-SXM4-80GB"
  std::string compute_capability;  // "8.0"; "" when NVML cannot say
};

struct NvmlMemory {
  uint64_t total_bytes = 0;
  uint64_t used_bytes = 0;
  uint64_t free_bytes = 0;
};

class Nvml {
 public:
  // Loads `library` (a soname, or a path), finds its functions and initialises NVML. NotFound when
  // the library cannot be loaded (dlerror's words in the message); Unavailable when a function is
  // missing or nvmlInit_v2 fails ("Driver/library version mismatch", "Driver Not Loaded").
  static absl::StatusOr<std::unique_ptr<Nvml>> Open(const std::string& library);
  ~Nvml();  // nvmlShutdown, dlclose

  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  absl::StatusOr<std::string> DriverVersion();
  // Every GPU NVML sees, in index order, with a handle kept for Memory().
  absl::StatusOr<std::vector<NvmlDevice>> Devices();
  // The memory of GPU `index` of the last Devices() as it is now.
  absl::StatusOr<NvmlMemory> Memory(uint32_t index);

 private:
  struct Api;
  explicit Nvml(std::unique_ptr<Api> api);

  std::unique_ptr<Api> api_;
  std::vector<void*> handles_;  // nvmlDevice_t by index, from the last Devices()
};

}  // namespace llorch

#endif  // LLORCH_COMMON_NVML_H_
