// A stand-in for NVIDIA's libnvidia-ml.so.1: a shared library with the NVML functions the GPU
// inventory loads (common/nvml.h), giving canned answers the way the real one gives them (same
// signatures, return codes, buffer contracts). Tests load it by naming its path in
// LLORCH_NVML_LIBRARY. Its answers come from the environment, read at every call:
//   FAKE_NVML_GPUS      how many GPUs (default 2, at most 16): NVIDIA H100 80GB HBM3, compute 9.0
//   FAKE_NVML_INIT      the code nvmlInit_v2 returns (default 0; 9 is "Driver Not Loaded")
//   FAKE_NVML_USED_MIB  the memory each GPU uses (default 1024)
//   FAKE_NVML_HANG      1: nvmlDeviceGetMemoryInfo never returns (a driver stuck in a call)
// fake_nvml_calls(NAME) tells a test how often function NAME was called (a test that dlopens the
// same path shares the counters with the inventory under test).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <string>

namespace {

constexpr int kSuccess = 0;
constexpr int kErrorUninitialized = 1;
constexpr int kErrorInvalidArgument = 2;
constexpr int kErrorInsufficientSize = 7;
constexpr unsigned long long kMiB = 1ull << 20;
constexpr unsigned long long kTotalMiB = 81559;  // what an H100 80GB reports
constexpr int kMaxGpus = 16;

struct Device {
  int index;
};
Device devices[kMaxGpus];

// Never destroyed: a thread stuck in a call (FAKE_NVML_HANG) may outlive the exit handlers.
std::mutex& mu = *new std::mutex;
std::map<std::string, int>& calls = *new std::map<std::string, int>;
bool initialized = false;

void Count(const char* function) {
  std::lock_guard lock(mu);
  ++calls[function];
}

long EnvNumber(const char* name, long fallback) {
  const char* value = std::getenv(name);
  return value == nullptr || *value == '\0' ? fallback : std::strtol(value, nullptr, 10);
}

int GpuCount() {
  const long gpus = EnvNumber("FAKE_NVML_GPUS", 2);
  return static_cast<int>(gpus < 0 ? 0 : gpus > kMaxGpus ? kMaxGpus : gpus);
}

int Copy(const std::string& text, char* buffer, unsigned length) {
  if (buffer == nullptr) return kErrorInvalidArgument;
  if (text.size() + 1 > length) return kErrorInsufficientSize;
  std::memcpy(buffer, text.c_str(), text.size() + 1);
  return kSuccess;
}

const Device* Valid(void* handle) {
  for (const Device& device : devices) {
    if (&device == handle) return &device;
  }
  return nullptr;
}

struct Memory {
  unsigned long long total;
  unsigned long long free;
  unsigned long long used;
};

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int fake_nvml_calls(const char* function) {
  std::lock_guard lock(mu);
  auto it = calls.find(function);
  return it == calls.end() ? 0 : it->second;
}

__attribute__((visibility("default"))) int nvmlInit_v2() {
  Count("nvmlInit_v2");
  const int code = static_cast<int>(EnvNumber("FAKE_NVML_INIT", 0));
  if (code == kSuccess) initialized = true;
  return code;
}

__attribute__((visibility("default"))) int nvmlShutdown() {
  Count("nvmlShutdown");
  if (!initialized) return kErrorUninitialized;
  initialized = false;
  return kSuccess;
}

__attribute__((visibility("default"))) const char* nvmlErrorString(int code) {
  switch (code) {
    case 0:
      return "Success";
    case 9:
      return "Driver Not Loaded";
    case 15:
      return "GPU is lost";
    default:
      return "Unknown Error";
  }
}

__attribute__((visibility("default"))) int nvmlSystemGetDriverVersion(char* version,
                                                                      unsigned length) {
  Count("nvmlSystemGetDriverVersion");
  if (!initialized) return kErrorUninitialized;
  return Copy("550.54.15", version, length);
}

__attribute__((visibility("default"))) int nvmlDeviceGetCount_v2(unsigned* count) {
  Count("nvmlDeviceGetCount_v2");
  if (!initialized) return kErrorUninitialized;
  if (count == nullptr) return kErrorInvalidArgument;
  *count = static_cast<unsigned>(GpuCount());
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetHandleByIndex_v2(unsigned index,
                                                                         void** device) {
  Count("nvmlDeviceGetHandleByIndex_v2");
  if (!initialized) return kErrorUninitialized;
  if (device == nullptr || index >= static_cast<unsigned>(GpuCount())) {
    return kErrorInvalidArgument;
  }
  devices[index].index = static_cast<int>(index);
  *device = &devices[index];
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetName(void* handle, char* name,
                                                             unsigned length) {
  Count("nvmlDeviceGetName");
  if (!initialized) return kErrorUninitialized;
  if (Valid(handle) == nullptr) return kErrorInvalidArgument;
  return Copy("NVIDIA H100 80GB HBM3", name, length);
}

__attribute__((visibility("default"))) int nvmlDeviceGetUUID(void* handle, char* uuid,
                                                             unsigned length) {
  Count("nvmlDeviceGetUUID");
  if (!initialized) return kErrorUninitialized;
  const Device* device = Valid(handle);
  if (device == nullptr) return kErrorInvalidArgument;
  char text[64];
  std::snprintf(text, sizeof(text), "GPU-fa4e%04d-1111-2222-3333-444444444444", device->index);
  return Copy(text, uuid, length);
}

__attribute__((visibility("default"))) int nvmlDeviceGetMemoryInfo(void* handle, Memory* memory) {
  Count("nvmlDeviceGetMemoryInfo");
  while (EnvNumber("FAKE_NVML_HANG", 0) == 1) sleep(60);
  if (!initialized) return kErrorUninitialized;
  if (Valid(handle) == nullptr || memory == nullptr) return kErrorInvalidArgument;
  const unsigned long long used =
      static_cast<unsigned long long>(EnvNumber("FAKE_NVML_USED_MIB", 1024));
  memory->total = kTotalMiB * kMiB;
  memory->used = used * kMiB;
  memory->free = (kTotalMiB - used) * kMiB;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetCudaComputeCapability(void* handle,
                                                                              int* major,
                                                                              int* minor) {
  Count("nvmlDeviceGetCudaComputeCapability");
  if (!initialized) return kErrorUninitialized;
  if (Valid(handle) == nullptr || major == nullptr || minor == nullptr) {
    return kErrorInvalidArgument;
  }
  *major = 9;
  *minor = 0;
  return kSuccess;
}

}  // extern "C"
