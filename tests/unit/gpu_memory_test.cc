// The GPU memory check after a CUDA worker's stop, against a stand-in nvidia-smi on PATH that
// answers the compute-apps query from a file the test writes (or fails as a broken driver does).
#include "agent/workers/gpu_memory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <string>

#include "tests/support/run_command.h"

namespace llorch {
namespace {

using ::llorch::testing::WriteFileBytes;
using ::testing::HasSubstr;

class GpuMemoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_path_ = getenv("PATH");
    setenv("PATH", (dir_.path() + ":" + old_path_).c_str(), 1);
    options_.bound = absl::Milliseconds(300);
    options_.interval = absl::Milliseconds(20);
  }
  void TearDown() override { setenv("PATH", old_path_.c_str(), 1); }

  // Installs nvidia-smi as a script with `body`; $D is the test's directory.
  void InstallNvidiaSmi(const std::string& body) {
    const std::string path = dir_.path() + "/nvidia-smi";
    WriteFileBytes(path, "#!/bin/sh\nD='" + dir_.path() + "'\n" + body + "\n");
    chmod(path.c_str(), 0755);
  }

  testing::TempDir dir_;
  std::string old_path_;
  GpuMemoryCheckOptions options_;
};

TEST(ComputeAppsTest, ParsesPidAndMemoryLinesAndSkipsTheRest) {
  std::vector<GpuProcess> processes =
      ParseComputeApps("4242, 4096\n  77 , [N/A]\nNo running processes found\n\n");
  ASSERT_EQ(processes.size(), 2u);
  EXPECT_EQ(processes[0].pid, 4242);
  EXPECT_EQ(processes[0].used_mib, 4096u);
  EXPECT_EQ(processes[1].pid, 77);
  EXPECT_EQ(processes[1].used_mib, 0u);
}

TEST_F(GpuMemoryTest, ReleasedWhenNoProcessOfTheWorkerIsListed) {
  InstallNvidiaSmi("echo '999999, 2048'");  // another program's
  absl::StatusOr<GpuMemoryCheck> check = WaitForGpuMemoryRelease({4242, 4243}, options_);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->released);
  EXPECT_EQ(check->Describe(), "GPU memory released");
}

TEST_F(GpuMemoryTest, ReleasedOnceTheDriverStopsListingTheWorker) {
  // Lists the worker on the first two queries, then nothing.
  InstallNvidiaSmi(
      "echo x >> \"$D/calls\"\n"
      "[ \"$(wc -l < \"$D/calls\")\" -le 2 ] && echo '4243, 4096'\n"
      "exit 0");
  options_.bound = absl::Seconds(30);
  absl::StatusOr<GpuMemoryCheck> check = WaitForGpuMemoryRelease({4242, 4243}, options_);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_TRUE(check->released);
  EXPECT_EQ(testing::ReadFileBytes(dir_.path() + "/calls"), "x\nx\nx\n");
}

TEST_F(GpuMemoryTest, NotReleasedWithinTheBoundSaysWhoHoldsHowMuch) {
  InstallNvidiaSmi("echo '999999, 2048'\necho '4243, 4096'");
  absl::StatusOr<GpuMemoryCheck> check = WaitForGpuMemoryRelease({4242, 4243}, options_);
  ASSERT_TRUE(check.ok()) << check.status();
  EXPECT_FALSE(check->released);
  EXPECT_EQ(check->Describe(),
            "GPU memory not released within 300ms: pid 4243 still holds 4096 MiB");
}

TEST_F(GpuMemoryTest, AFailingNvidiaSmiIsAnErrorWithItsMessage) {
  InstallNvidiaSmi(
      "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver' >&2\n"
      "exit 9");
  absl::StatusOr<GpuMemoryCheck> check = WaitForGpuMemoryRelease({4242}, options_);
  EXPECT_EQ(check.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(check.status().message(), HasSubstr("exit 9"));
  EXPECT_THAT(check.status().message(), HasSubstr("could not communicate with the NVIDIA driver"));
}

TEST_F(GpuMemoryTest, AMissingNvidiaSmiIsNotFound) {
  options_.nvidia_smi = "nvidia-smi-not-installed";
  EXPECT_EQ(WaitForGpuMemoryRelease({4242}, options_).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace llorch
