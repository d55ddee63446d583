// `llorch-pool agent info` as an orchestrator's operator reads it: what the host can run (GPUs,
// backends, models dir space, downloaded models, live workers and their ports, the checkout's
// HEAD), in the human view and as JSON, on hosts made of stand-ins: nvidia-smi with 0, 1 and 8
// GPUs and one that hangs, the fake NVML library, the fake worker under the real workers' names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_workers.h"
#include "tests/support/tool_stand_ins.h"

namespace llorch::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

// A row of the human view: the field padded to its column (the longest field, "backend metal",
// and two spaces).
std::string Row(const std::string& field, const std::string& value) {
  return field + std::string(15 - field.size(), ' ') + value;
}

class HostInfoE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteWorkerBinDir(bin(), FAKE_WORKER, {0});
    env_.env()["PATH"] = tools_.path() + ":" + bin() + ":" + env_.env()["PATH"];
  }
  void TearDown() override { KillRecordedWorkers(env_.Path("state/llorch/pool")); }

  std::string bin() const { return env_.Path("bin"); }

  // The work directory as a checkout on branch main with one commit; returns the commit.
  std::string MakeCheckout() {
    const std::string work = env_.Path("work");
    EXPECT_EQ(RunCommand({"git", "init", "-q", "-b", "main", work}).exit_code, 0);
    EXPECT_EQ(RunCommand({"git", "-C", work, "-c", "user.name=t", "-c", "user.email=t@example.com",
                          "commit", "-q", "--allow-empty", "-m", "first"})
                  .exit_code,
              0);
    CommandResult head = RunCommand({"git", "-C", work, "rev-parse", "HEAD"});
    return std::string(absl::StripAsciiWhitespace(head.out));
  }

  nlohmann::json InfoJson() {
    CommandResult json = env_.Run({"agent", "info", "-o", "json"});
    EXPECT_EQ(json.exit_code, 0) << json.err;
    return nlohmann::json::parse(json.out, nullptr, false);
  }

  E2eEnvironment env_;
  ToolStandIns tools_{env_.Path("tools")};
};

TEST_F(HostInfoE2eTest, ShowsGpusBackendsModelsWorkersAndTheRepoHead) {
  const std::string commit = MakeCheckout();
  PlaceModel(env_.models_dir(), "tinyllama", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
  const int port = UnusedPort();
  ASSERT_EQ(
      env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port", std::to_string(port)})
          .exit_code,
      0);

  CommandResult info = env_.Run({"agent", "info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr(Row("gpus", "1 GPU, driver 550.54.15 (from nvidia-smi)\n")));
  EXPECT_THAT(info.out, HasSubstr(Row("gpu 0",
                                      "NVIDIA GeForce RTX 4090, 24564 MiB: 0 used, "
                                      "24564 free, compute 8.9, GPU-0-fake\n")));
  EXPECT_THAT(info.out,
              HasSubstr(Row("backend cpu", "available: " + bin() + "/llorch-cpu-candled\n")));
  EXPECT_THAT(info.out,
              HasSubstr(Row("backend cuda", "available: " + bin() + "/llorch-cuda-candled\n")));
  EXPECT_THAT(info.out,
              HasSubstr(Row("backend metal", "unavailable: not macOS: Metal exists only there\n")));
  EXPECT_THAT(info.out, MatchesRegex("(.|\n)*models disk    [0-9.]+ [kMGT]?B free of [0-9.]+ "
                                     "[kMGT]?B\n(.|\n)*"));
  // Its bytes: everything it has on disk, as `models list` counts them.
  const nlohmann::json listed =
      nlohmann::json::parse(env_.Run({"models", "list", "-o", "json"}).out, nullptr, false);
  const uint64_t bytes = listed["models"][0]["total_bytes"].get<uint64_t>();
  EXPECT_THAT(info.out, HasSubstr(Row("models", absl::StrCat("tinyllama (", bytes, " B)\n"))));
  EXPECT_THAT(info.out, HasSubstr(Row("workers", absl::StrCat("1 running, ports ", port, "\n"))));
  EXPECT_THAT(info.out, HasSubstr(Row("repo head", "main at " + commit.substr(0, 12) + "\n")));

  const nlohmann::json json = InfoJson();
  EXPECT_EQ(json["gpus"]["source"], "GPU_SOURCE_NVIDIA_SMI");
  EXPECT_EQ(json["gpus"]["available"], true);
  EXPECT_EQ(json["gpus"]["nvml_problem"], "not used (LLORCH_NVML_LIBRARY=none)");
  ASSERT_EQ(json["gpus"]["gpus"].size(), 1u);
  EXPECT_EQ(json["gpus"]["gpus"][0]["memory_total_bytes"], 24564ull << 20);
  EXPECT_EQ(json["gpus"]["gpus"][0]["compute_capability"], "8.9");
  ASSERT_EQ(json["backends"].size(), 3u);
  EXPECT_EQ(json["backends"][1]["backend"], "BACKEND_CUDA");
  EXPECT_EQ(json["backends"][1]["available"], true);
  EXPECT_EQ(json["backends"][1]["program"], "llorch-cuda-candled");
  EXPECT_EQ(json["backends"][1]["program_path"], bin() + "/llorch-cuda-candled");
  EXPECT_EQ(json["backends"][2]["supported"], false);
  EXPECT_EQ(json["models_disk"]["path"], env_.models_dir());
  EXPECT_GT(json["models_disk"]["free_bytes"].get<uint64_t>(), 0u);
  ASSERT_EQ(json["models"].size(), 1u);
  EXPECT_EQ(json["models"][0]["id"], "tinyllama");
  EXPECT_EQ(json["models"][0]["bytes"], bytes);
  EXPECT_EQ(json["live_workers"], 1);
  EXPECT_EQ(json["worker_ports"], nlohmann::json::array({port}));
  EXPECT_EQ(json["repo"]["commit"], commit);
  EXPECT_EQ(json["repo"]["branch"], "main");
}

TEST_F(HostInfoE2eTest, GpuFactsComeFromNvmlWhenItLoads) {
  env_.env()["LLORCH_NVML_LIBRARY"] = FAKE_NVML;
  env_.env()["FAKE_NVML_GPUS"] = "2";
  CommandResult info = env_.Run({"agent", "info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr(Row("gpus", "2 GPUs, driver 550.54.15 (from NVML)\n")));
  EXPECT_THAT(info.out, HasSubstr(Row("gpu 1",
                                      "NVIDIA H100 80GB HBM3, 81559 MiB: 1024 used, "
                                      "80535 free, compute 9.0, "
                                      "GPU-fa4e0001-1111-2222-3333-444444444444\n")));
  // Without a checkout and without workers.
  EXPECT_THAT(info.out, HasSubstr(Row("models", "none downloaded\n")));
  EXPECT_THAT(info.out, HasSubstr(Row("workers", "none running\n")));
  EXPECT_THAT(info.out, Not(HasSubstr("repo head")));

  const nlohmann::json json = InfoJson();
  EXPECT_EQ(json["gpus"]["source"], "GPU_SOURCE_NVML");
  EXPECT_EQ(json["gpus"]["nvml_problem"], "");
  ASSERT_EQ(json["gpus"]["gpus"].size(), 2u);
  EXPECT_EQ(json["gpus"]["gpus"][0]["uuid"], "GPU-fa4e0000-1111-2222-3333-444444444444");
  EXPECT_EQ(json["gpus"]["gpus"][0]["memory_used_bytes"], 1024ull << 20);
  EXPECT_FALSE(json.contains("repo"));
}

TEST_F(HostInfoE2eTest, NvidiaSmiWithNoAndEightGpus) {
  tools_.AddNvidiaSmi(0);
  CommandResult none = env_.Run({"agent", "info"});
  ASSERT_EQ(none.exit_code, 0) << none.err;
  EXPECT_THAT(none.out, HasSubstr(Row("gpus", "none (nvidia-smi lists no GPU)\n")));
  EXPECT_THAT(none.out, HasSubstr(Row("backend cuda", "unavailable: no NVIDIA GPU\n")));
  EXPECT_THAT(none.out, HasSubstr(Row("backend cpu", "available: ")));

  tools_.AddNvidiaSmi(8);
  const nlohmann::json eight = InfoJson();
  ASSERT_EQ(eight["gpus"]["gpus"].size(), 8u);
  EXPECT_EQ(eight["gpus"]["gpus"][7]["index"], 7);
  EXPECT_EQ(eight["gpus"]["gpus"][7]["name"], "NVIDIA A100-SXM4-80GB");
  EXPECT_EQ(eight["gpus"]["gpus"][7]["memory_used_bytes"], 700ull << 20);
  EXPECT_EQ(eight["backends"][1]["available"], true);
}

TEST_F(HostInfoE2eTest, AHangingNvidiaSmiIsCutOffAndTheGpuFactsSayWhy) {
  tools_.AddHangingNvidiaSmi();
  CommandResult info = env_.Run({"agent", "info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  const std::string why = tools_.path() + "/nvidia-smi did not answer within 5s and was stopped";
  EXPECT_THAT(info.out, HasSubstr(Row("gpus", "unavailable: " + why + "\n")));
  EXPECT_THAT(info.out,
              HasSubstr(Row("backend cuda", "unavailable: GPU facts unavailable: " + why)));
  EXPECT_THAT(info.out, HasSubstr(Row("backend cpu", "available: ")));
  const nlohmann::json json = InfoJson();
  EXPECT_EQ(json["gpus"]["available"], false);
  EXPECT_EQ(json["gpus"]["unavailable_reason"], why);
}

TEST_F(HostInfoE2eTest, AMissingWorkerProgramIsNamed) {
  std::filesystem::remove(bin() + "/llorch-cpu-candled");
  CommandResult info = env_.Run({"agent", "info"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(
      info.out,
      HasSubstr(Row("backend cpu", "unavailable: llorch-cpu-candled is not in the agent's PATH")));
}

}  // namespace
}  // namespace llorch::testing
