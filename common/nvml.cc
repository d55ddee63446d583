#include "common/nvml.h"

#include <dlfcn.h>

#include <type_traits>

#include "absl/strings/str_cat.h"

namespace llorch {
namespace {

// From NVIDIA's nvml.h (the ABI the driver keeps stable): return codes, buffer sizes, types.
using nvmlReturn_t = int;
constexpr nvmlReturn_t kNvmlSuccess = 0;
constexpr nvmlReturn_t kNvmlErrorNotSupported = 3;
constexpr unsigned kNvmlDriverVersionBufferSize = 80;  // NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE
constexpr unsigned kNvmlDeviceNameBufferSize = 96;     // NVML_DEVICE_NAME_V2_BUFFER_SIZE
constexpr unsigned kNvmlDeviceUuidBufferSize = 96;     // NVML_DEVICE_UUID_V2_BUFFER_SIZE
using nvmlDevice_t = void*;                            // struct nvmlDevice_st*
struct nvmlMemory_t {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

// The words NVML uses for the codes a host is likely to answer (nvmlErrorString), for when the
// library has no nvmlErrorString.
std::string CodeName(nvmlReturn_t code) {
  switch (code) {
    case 1:
      return "Uninitialized";
    case 3:
      return "Not Supported";
    case 4:
      return "Insufficient Permissions";
    case 9:
      return "Driver Not Loaded";
    case 10:
      return "Timeout";
    case 12:
      return "NVML Shared Library Not Found";
    case 15:
      return "GPU is lost";
    case 17:
      return "The operating system has blocked the request";
    case 18:
      return "RM has detected an NVML/RM version mismatch";
    default:
      return absl::StrCat("NVML error ", code);
  }
}

}  // namespace

struct Nvml::Api {
  void* library = nullptr;
  nvmlReturn_t (*init)() = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  const char* (*error_string)(nvmlReturn_t) = nullptr;  // optional
  nvmlReturn_t (*driver_version)(char*, unsigned) = nullptr;
  nvmlReturn_t (*device_count)(unsigned*) = nullptr;
  nvmlReturn_t (*handle_by_index)(unsigned, nvmlDevice_t*) = nullptr;
  nvmlReturn_t (*name)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*uuid)(nvmlDevice_t, char*, unsigned) = nullptr;
  nvmlReturn_t (*memory)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*compute_capability)(nvmlDevice_t, int*, int*) = nullptr;

  // "nvmlDeviceGetName: GPU is lost" for a failed call.
  absl::Status Error(const char* function, nvmlReturn_t code) const {
    const char* words = error_string != nullptr ? error_string(code) : nullptr;
    return absl::UnavailableError(
        absl::StrCat(function, ": ", words != nullptr ? std::string(words) : CodeName(code)));
  }
};

absl::StatusOr<std::unique_ptr<Nvml>> Nvml::Open(const std::string& library) {
  auto api = std::make_unique<Api>();
  api->library = dlopen(library.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (api->library == nullptr) {
    const char* error = dlerror();
    return absl::NotFoundError(error != nullptr ? error : absl::StrCat("cannot load ", library));
  }
  std::string missing;
  auto find = [&](auto& function, const char* name, bool required = true) {
    function =
        reinterpret_cast<std::remove_reference_t<decltype(function)>>(dlsym(api->library, name));
    if (function == nullptr && required) missing += absl::StrCat(missing.empty() ? "" : ", ", name);
  };
  find(api->init, "nvmlInit_v2");
  find(api->shutdown, "nvmlShutdown");
  find(api->error_string, "nvmlErrorString", /*required=*/false);
  find(api->driver_version, "nvmlSystemGetDriverVersion");
  find(api->device_count, "nvmlDeviceGetCount_v2");
  find(api->handle_by_index, "nvmlDeviceGetHandleByIndex_v2");
  find(api->name, "nvmlDeviceGetName");
  find(api->uuid, "nvmlDeviceGetUUID");
  find(api->memory, "nvmlDeviceGetMemoryInfo");
  find(api->compute_capability, "nvmlDeviceGetCudaComputeCapability");
  if (!missing.empty()) {
    dlclose(api->library);
    return absl::UnavailableError(absl::StrCat(library, " lacks ", missing));
  }
  if (const nvmlReturn_t code = api->init(); code != kNvmlSuccess) {
    absl::Status error = api->Error("nvmlInit_v2", code);
    dlclose(api->library);
    return error;
  }
  return std::unique_ptr<Nvml>(new Nvml(std::move(api)));
}

Nvml::Nvml(std::unique_ptr<Api> api) : api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->shutdown();
  dlclose(api_->library);
}

absl::StatusOr<std::string> Nvml::DriverVersion() {
  char version[kNvmlDriverVersionBufferSize] = {};
  if (const nvmlReturn_t code = api_->driver_version(version, sizeof(version));
      code != kNvmlSuccess) {
    return api_->Error("nvmlSystemGetDriverVersion", code);
  }
  return std::string(version);
}

absl::StatusOr<std::vector<NvmlDevice>> Nvml::Devices() {
  handles_.clear();
  unsigned count = 0;
  if (const nvmlReturn_t code = api_->device_count(&count); code != kNvmlSuccess) {
    return api_->Error("nvmlDeviceGetCount_v2", code);
  }
  std::vector<NvmlDevice> devices;
  std::vector<void*> handles;
  for (unsigned index = 0; index < count; ++index) {
    nvmlDevice_t handle = nullptr;
    if (const nvmlReturn_t code = api_->handle_by_index(index, &handle); code != kNvmlSuccess) {
      return api_->Error("nvmlDeviceGetHandleByIndex_v2", code);
    }
    NvmlDevice device;
    device.index = index;
    char name[kNvmlDeviceNameBufferSize] = {};
    if (const nvmlReturn_t code = api_->name(handle, name, sizeof(name)); code != kNvmlSuccess) {
      return api_->Error("nvmlDeviceGetName", code);
    }
    device.name = name;
    char uuid[kNvmlDeviceUuidBufferSize] = {};
    if (const nvmlReturn_t code = api_->uuid(handle, uuid, sizeof(uuid)); code != kNvmlSuccess) {
      return api_->Error("nvmlDeviceGetUUID", code);
    }
    device.uuid = uuid;
    int major = 0, minor = 0;
    const nvmlReturn_t code = api_->compute_capability(handle, &major, &minor);
    if (code == kNvmlSuccess) {
      device.compute_capability = absl::StrCat(major, ".", minor);
    } else if (code != kNvmlErrorNotSupported) {
      return api_->Error("nvmlDeviceGetCudaComputeCapability", code);
    }
    devices.push_back(std::move(device));
    handles.push_back(handle);
  }
  handles_ = std::move(handles);
  return devices;
}

absl::StatusOr<NvmlMemory> Nvml::Memory(uint32_t index) {
  if (index >= handles_.size()) {
    return absl::OutOfRangeError(absl::StrCat("no GPU ", index, " in NVML's list"));
  }
  nvmlMemory_t memory{};
  if (const nvmlReturn_t code = api_->memory(handles_[index], &memory); code != kNvmlSuccess) {
    return api_->Error("nvmlDeviceGetMemoryInfo", code);
  }
  return NvmlMemory{memory.total, memory.used, memory.free};
}

}  // namespace llorch
