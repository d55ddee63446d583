// The GPU inventory against stand-ins for the driver: the fake NVML library (fake_nvml.cc,
// loaded for real through dlopen by the path the inventory is given) and stand-in nvidia-smi
// scripts in a PATH of their own with 0, 1 and 8 GPUs, a driver before 510, and one that hangs.
#include "common/gpu_inventory.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/status.h"
#include "tests/support/run_command.h"
#include "tests/support/tool_stand_ins.h"

namespace llorch {
namespace {

using ::testing::HasSubstr;
constexpr uint64_t kMiB = uint64_t{1} << 20;

class GpuInventoryTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const char* name :
         {"FAKE_NVML_GPUS", "FAKE_NVML_INIT", "FAKE_NVML_USED_MIB", "FAKE_NVML_HANG"}) {
      unsetenv(name);
    }
  }

  // An inventory that looks for nvidia-smi in the stand-ins' PATH and loads `nvml` ("" = none).
  GpuInventoryOptions Options(const std::string& nvml = "") const {
    GpuInventoryOptions options;
    options.nvml_library = nvml;
    options.path_env = tools_.path();
    return options;
  }

  // How often the fake NVML's `function` was called (the inventory loaded the same library, so
  // dlopen hands out the same copy and its counters).
  static int Calls(const char* function) {
    void* library = dlopen(FAKE_NVML, RTLD_NOW | RTLD_LOCAL);
    EXPECT_NE(library, nullptr) << dlerror();
    auto calls = reinterpret_cast<int (*)(const char*)>(dlsym(library, "fake_nvml_calls"));
    const int count = calls(function);
    dlclose(library);
    return count;
  }

  testing::TempDir temp_;
  testing::ToolStandIns tools_{temp_.path() + "/bin"};
};

TEST_F(GpuInventoryTest, NvmlGivesEveryFactAndIsPreferredToNvidiaSmi) {
  tools_.AddNvidiaSmi(1);
  setenv("FAKE_NVML_GPUS", "2", 1);
  GpuInventory inventory(Options(FAKE_NVML));
  const GpuReport report = inventory.Read();
  EXPECT_EQ(report.source, GpuSource::kNvml);
  EXPECT_TRUE(report.available);
  EXPECT_EQ(report.driver_version, "550.54.15");
  EXPECT_EQ(report.nvml_problem, "");
  ASSERT_EQ(report.gpus.size(), 2u);
  const Gpu& gpu = report.gpus[1];
  EXPECT_EQ(gpu.index, 1u);
  EXPECT_EQ(gpu.name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(gpu.uuid, "GPU-fa4e0001-1111-2222-3333-444444444444");
  EXPECT_EQ(gpu.compute_capability, "9.0");
  EXPECT_TRUE(gpu.memory_known);
  EXPECT_EQ(gpu.memory_total_bytes, 81559 * kMiB);
  EXPECT_EQ(gpu.memory_used_bytes, 1024 * kMiB);
  EXPECT_EQ(gpu.memory_free_bytes, (81559 - 1024) * kMiB);
  // nvidia-smi was not asked.
  EXPECT_FALSE(report.nvidia_smi.found);
}

TEST_F(GpuInventoryTest, NvmlNamesAreReadOnceAndMemoryAtEveryRead) {
  setenv("FAKE_NVML_GPUS", "2", 1);
  GpuInventory inventory(Options(FAKE_NVML));
  const int names_before = Calls("nvmlDeviceGetName");
  const int memory_before = Calls("nvmlDeviceGetMemoryInfo");
  const int inits_before = Calls("nvmlInit_v2");
  setenv("FAKE_NVML_USED_MIB", "1024", 1);
  EXPECT_EQ(inventory.Read().gpus[0].memory_used_bytes, 1024 * kMiB);
  setenv("FAKE_NVML_USED_MIB", "40000", 1);
  const GpuReport later = inventory.Read();
  EXPECT_EQ(later.gpus[0].memory_used_bytes, 40000 * kMiB);
  EXPECT_EQ(later.gpus[0].memory_free_bytes, (81559 - 40000) * kMiB);
  EXPECT_EQ(later.gpus[0].name, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(Calls("nvmlInit_v2") - inits_before, 1);
  EXPECT_EQ(Calls("nvmlDeviceGetName") - names_before, 2);         // once per GPU
  EXPECT_EQ(Calls("nvmlDeviceGetMemoryInfo") - memory_before, 4);  // per GPU and read
}

TEST_F(GpuInventoryTest, ANvmlCallThatHangsHoldsItsThreadNotTheReader) {
  const std::string runs = temp_.path() + "/runs";
  tools_.AddScript("nvidia-smi", "echo run >> " + runs);  // would hang in the same driver
  setenv("FAKE_NVML_HANG", "1", 1);
  GpuInventoryOptions options = Options(FAKE_NVML);
  options.timeout = absl::Seconds(1);
  GpuInventory inventory(options);
  const GpuReport first = inventory.Read();
  EXPECT_EQ(first.source, GpuSource::kNvml);
  EXPECT_FALSE(first.available);
  EXPECT_EQ(first.unavailable, "NVML did not answer within 1s (a call into the driver hangs)");
  EXPECT_TRUE(first.gpus.empty());
  // Still in the driver: later reads say so at once, and start nothing.
  const GpuReport later = inventory.Read();
  EXPECT_FALSE(later.available);
  EXPECT_THAT(later.unavailable, HasSubstr("NVML has not answered since "));
  EXPECT_THAT(later.unavailable, HasSubstr(" UTC (a call into the driver hangs)"));
  EXPECT_FALSE(std::filesystem::exists(runs));
  EXPECT_EQ(CheckGpuExists(later, 0).message(),
            "cannot check that CUDA GPU 0 exists: " + later.unavailable);
}

TEST_F(GpuInventoryTest, NvmlThatCannotStartFallsBackToNvidiaSmiAndSaysWhy) {
  tools_.AddNvidiaSmi(1);
  setenv("FAKE_NVML_INIT", "9", 1);  // NVML_ERROR_DRIVER_NOT_LOADED
  const GpuReport report = GpuInventory(Options(FAKE_NVML)).Read();
  EXPECT_EQ(report.source, GpuSource::kNvidiaSmi);
  EXPECT_EQ(report.nvml_problem, "nvmlInit_v2: Driver Not Loaded");
  ASSERT_EQ(report.gpus.size(), 1u);
  EXPECT_EQ(report.gpus[0].name, "NVIDIA A100-SXM4-80GB");
}

TEST_F(GpuInventoryTest, AMissingNvmlLibraryIsNamedAndNvidiaSmiAnswers) {
  tools_.AddNvidiaSmi(8);
  const GpuReport report = GpuInventory(Options(temp_.path() + "/libnvidia-ml.so.1")).Read();
  EXPECT_THAT(report.nvml_problem, HasSubstr("libnvidia-ml.so.1: cannot open shared object file"));
  EXPECT_EQ(report.source, GpuSource::kNvidiaSmi);
  EXPECT_TRUE(report.available);
  EXPECT_EQ(report.driver_version, "550.54.15");
  ASSERT_EQ(report.gpus.size(), 8u);
  const Gpu& last = report.gpus[7];
  EXPECT_EQ(last.index, 7u);
  EXPECT_EQ(last.uuid, "GPU-00000007-aaaa-bbbb-cccc-dddddddddddd");
  EXPECT_EQ(last.memory_total_bytes, 81920 * kMiB);
  EXPECT_EQ(last.memory_used_bytes, 700 * kMiB);
  EXPECT_EQ(last.memory_free_bytes, 81220 * kMiB);
  EXPECT_EQ(last.compute_capability, "8.0");
  EXPECT_EQ(report.Indexes(), "0, 1, 2, 3, 4, 5, 6, 7");
}

TEST_F(GpuInventoryTest, NvidiaSmiWithOneAndNoGpu) {
  tools_.AddNvidiaSmi(1);
  GpuInventory inventory(Options());
  const GpuReport one = inventory.Read();
  EXPECT_EQ(one.nvml_problem, "not used (LLORCH_NVML_LIBRARY=none)");
  ASSERT_EQ(one.gpus.size(), 1u);
  EXPECT_EQ(one.gpus[0].uuid, "GPU-00000000-aaaa-bbbb-cccc-dddddddddddd");

  tools_.AddNvidiaSmi(0);  // "No devices were found", exit 6: a fact, not a failure
  const GpuReport none = inventory.Read();
  EXPECT_EQ(none.source, GpuSource::kNvidiaSmi);
  EXPECT_TRUE(none.available);
  EXPECT_TRUE(none.no_devices);
  EXPECT_TRUE(none.gpus.empty());
}

TEST_F(GpuInventoryTest, ADriverBefore510WithoutComputeCapIsAskedAgainWithoutIt) {
  tools_.AddNvidiaSmi(2, /*knows_compute_cap=*/false);
  const GpuReport report = GpuInventory(Options()).Read();
  EXPECT_TRUE(report.available) << report.unavailable;
  ASSERT_EQ(report.gpus.size(), 2u);
  EXPECT_EQ(report.gpus[1].name, "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(report.gpus[1].compute_capability, "");
  EXPECT_EQ(report.gpus[1].memory_used_bytes, 100 * kMiB);
}

TEST_F(GpuInventoryTest, AHangingNvidiaSmiIsStoppedAndTheFactsAreUnavailableWithWhy) {
  tools_.AddHangingNvidiaSmi();
  GpuInventoryOptions options = Options();
  options.timeout = absl::Seconds(1);
  const GpuReport report = GpuInventory(options).Read();
  EXPECT_FALSE(report.available);
  EXPECT_TRUE(report.gpus.empty());
  EXPECT_EQ(report.unavailable,
            tools_.path() + "/nvidia-smi did not answer within 1s and was stopped");
  const absl::Status check = CheckGpuExists(report, 0);
  EXPECT_THAT(check.message(), HasSubstr("cannot check that CUDA GPU 0 exists: "));
  EXPECT_EQ(GetReason(check), "GPU_NOT_FOUND");
}

TEST_F(GpuInventoryTest, AHungNvidiaSmiIsNotStartedAgainForAMinute) {
  const std::string runs = temp_.path() + "/runs";
  tools_.AddScript("nvidia-smi", "echo run >> " + runs + "\nexec /bin/sleep 600");
  GpuInventoryOptions options = Options();
  options.timeout = absl::Seconds(1);
  GpuInventory inventory(options);
  EXPECT_FALSE(inventory.Read().available);
  const GpuReport again = inventory.Read();
  EXPECT_FALSE(again.available);
  EXPECT_THAT(again.unavailable,
              HasSubstr("/nvidia-smi did not answer within 1s and was stopped (at "));
  EXPECT_THAT(again.unavailable, HasSubstr(" UTC; not started again until 1m after)"));
  EXPECT_TRUE(again.nvidia_smi.timed_out);
  EXPECT_EQ(testing::ReadFileBytes(runs), "run\n");  // started once
}

TEST_F(GpuInventoryTest, WithoutNvmlOrNvidiaSmiThereAreNoGpusAndSpawnSaysSo) {
  const GpuReport report = GpuInventory(Options(temp_.path() + "/none.so")).Read();
  EXPECT_EQ(report.source, GpuSource::kNone);
  EXPECT_TRUE(report.available);
  EXPECT_TRUE(report.gpus.empty());
  const absl::Status check = CheckGpuExists(report, 0);
  EXPECT_THAT(check.message(),
              HasSubstr("cannot check that CUDA GPU 0 exists: no NVIDIA driver answers (NVML: "));
  EXPECT_THAT(GetHint(check).value_or(""), HasSubstr("install the NVIDIA driver"));
}

TEST_F(GpuInventoryTest, CheckGpuExistsNamesTheGpusTheSourceLists) {
  tools_.AddNvidiaSmi(2);
  const GpuReport report = GpuInventory(Options()).Read();
  EXPECT_TRUE(CheckGpuExists(report, 1).ok());
  const absl::Status missing = CheckGpuExists(report, 2);
  EXPECT_EQ(missing.message(), "CUDA GPU 2 does not exist: nvidia-smi lists GPUs 0, 1");
  EXPECT_EQ(GetReason(missing), "GPU_NOT_FOUND");
}

TEST_F(GpuInventoryTest, OptionsComeFromTheEnvironment) {
  EXPECT_EQ(GpuInventoryOptionsFor({}).nvml_library, "libnvidia-ml.so.1");
  EXPECT_EQ(GpuInventoryOptionsFor({{"LLORCH_NVML_LIBRARY", "/opt/nvidia/libnvidia-ml.so.1"}})
                .nvml_library,
            "/opt/nvidia/libnvidia-ml.so.1");
  EXPECT_EQ(GpuInventoryOptionsFor({{"LLORCH_NVML_LIBRARY", "none"}}).nvml_library, "");
  EXPECT_EQ(GpuInventoryOptionsFor({{"PATH", "/x:/y"}}).path_env, "/x:/y");
}

}  // namespace
}  // namespace llorch
