// DevService.RunDoctor as an orchestrator calls it (generated stub, in-process channel of a real
// agent), on a host whose PATH holds only the stand-ins the test writes: each check's status,
// detail and fix, the summary and ok, which checks are required; unknown names refused.
#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llorch/pool/v1/dev.grpc.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/fake_hub.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"
#include "tests/support/tool_stand_ins.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::testing::HasSubstr;

class DoctorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(testing::RunCommand({"git", "init", "-q", temp_.path() + "/checkout"}).exit_code, 0);
    saved_path_ = std::getenv("PATH");
    tools_.AddEveryTool();
    setenv("PATH", tools_.path().c_str(), 1);
  }
  void TearDown() override {
    setenv("PATH", saved_path_.c_str(), 1);
    unsetenv("HF_HUB_OFFLINE");
    unsetenv("LLORCH_NVML_LIBRARY");
    unsetenv("FAKE_NVML_HANG");
  }

  // Starts the agent (it reads PATH, HF_ENDPOINT and HF_HUB_OFFLINE as they are now).
  void Start(Config config = {}) {
    config.repo_root = temp_.path() + "/checkout";
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/true, {}, config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
  }

  grpc::Status Doctor(const std::vector<std::string>& names, v1::RunDoctorResponse* response) {
    v1::RunDoctorRequest request;
    for (const std::string& name : names) request.add_names(name);
    grpc::ClientContext context;
    return v1::DevService::NewStub(agent_.server->InProcessChannel())
        ->RunDoctor(&context, request, response);
  }

  static const v1::Check& CheckOf(const v1::RunDoctorResponse& response, const std::string& name) {
    for (const v1::Check& check : response.checks()) {
      if (check.name() == name) return check;
    }
    ADD_FAILURE() << "no check " << name;
    return v1::Check::default_instance();
  }

  testing::TempDir temp_;
  testing::ToolStandIns tools_{temp_.path() + "/bin"};
  std::string saved_path_;
  testing::TestAgent agent_;
};

TEST_F(DoctorServiceTest, EveryCheckAnswersInOrderWithItsSummary) {
  testing::FakeHub hub;
  setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  tools_.AddNvidiaSmi(8);
  Start();
  setenv("HF_ENDPOINT", "http://127.0.0.1:9", 1);
  v1::RunDoctorResponse response;
  ASSERT_TRUE(Doctor({}, &response).ok());
  std::vector<std::string> names;
  for (const v1::Check& check : response.checks()) names.push_back(check.name());
  EXPECT_EQ(names,
            (std::vector<std::string>{"git", "hf.cli", "rust.toolchain", "python.converter",
                                      "git.submodules", "disk.models", "gpu.cuda", "gpu.cuda.uvm",
                                      "gpu.metal", "config", "hub.reachable"}));
  EXPECT_TRUE(response.ok());
  const v1::Check& cuda = CheckOf(response, "gpu.cuda");
  EXPECT_EQ(cuda.status(), v1::CHECK_STATUS_OK);
  EXPECT_TRUE(cuda.required());
  EXPECT_EQ(cuda.detail(), "driver 550.54.15, 8 GPUs");
  ASSERT_EQ(cuda.lines_size(), 8);
  EXPECT_EQ(cuda.lines(0),
            "GPU 0: NVIDIA A100-SXM4-80GB (GPU-00000000-aaaa-bbbb-cccc-dddddddddddd), "
            "81920 MiB total, 0 used, 81920 free");
  EXPECT_EQ(cuda.lines(7),
            "GPU 7: NVIDIA A100-SXM4-80GB (GPU-00000007-aaaa-bbbb-cccc-dddddddddddd), "
            "81920 MiB total, 700 used, 81220 free");
  EXPECT_EQ(CheckOf(response, "hub.reachable").status(), v1::CHECK_STATUS_OK);
  EXPECT_FALSE(CheckOf(response, "hf.cli").required());
  EXPECT_EQ(CheckOf(response, "gpu.metal").status(), v1::CHECK_STATUS_SKIPPED);
  const v1::DoctorSummary& summary = response.summary();
  EXPECT_EQ(summary.ok() + summary.warn() + summary.fail() + summary.skipped(), 11u);
  EXPECT_EQ(summary.fail(), 0u);
}

TEST_F(DoctorServiceTest, ARequiredFailureMakesTheResponseNotOkAnOptionalOneOnlyWarns) {
  tools_.Remove("hf");
  tools_.Remove("cargo");
  Start();
  v1::RunDoctorResponse response;
  ASSERT_TRUE(Doctor({"hf.cli", "rust.toolchain"}, &response).ok());
  ASSERT_EQ(response.checks_size(), 2);
  EXPECT_EQ(response.checks(0).name(), "hf.cli");
  EXPECT_EQ(response.checks(0).status(), v1::CHECK_STATUS_WARN);
  EXPECT_EQ(response.checks(1).status(), v1::CHECK_STATUS_FAIL);
  EXPECT_EQ(response.checks(1).detail(), "cargo not found in PATH");
  EXPECT_THAT(response.checks(1).fix(), HasSubstr("rustup"));
  EXPECT_FALSE(response.ok());
  EXPECT_EQ(response.summary().warn(), 1u);
  EXPECT_EQ(response.summary().fail(), 1u);
}

TEST_F(DoctorServiceTest, AHangingNvidiaSmiIsStoppedAtItsBound) {
  tools_.AddHangingNvidiaSmi();
  Start();
  v1::RunDoctorResponse response;
  ASSERT_TRUE(Doctor({"gpu.cuda", "git"}, &response).ok());
  EXPECT_EQ(CheckOf(response, "gpu.cuda").status(), v1::CHECK_STATUS_FAIL);
  EXPECT_THAT(CheckOf(response, "gpu.cuda").detail(),
              HasSubstr("nvidia-smi did not answer within 5s and was stopped"));
  EXPECT_THAT(CheckOf(response, "gpu.cuda").fix(), HasSubstr("dmesg"));
  EXPECT_EQ(CheckOf(response, "git").status(), v1::CHECK_STATUS_OK);
}

TEST_F(DoctorServiceTest, GpusComeFromNvmlWhenItLoadsAndNvidiaSmiIsNotAsked) {
  tools_.AddHangingNvidiaSmi();  // asked, it would fail the check
  setenv("LLORCH_NVML_LIBRARY", FAKE_NVML, 1);
  Start();
  v1::RunDoctorResponse response;
  ASSERT_TRUE(Doctor({"gpu.cuda"}, &response).ok());
  const v1::Check& cuda = CheckOf(response, "gpu.cuda");
  EXPECT_EQ(cuda.status(), v1::CHECK_STATUS_OK);
  EXPECT_EQ(cuda.detail(), "driver 550.54.15, 2 GPUs (NVML)");
  ASSERT_EQ(cuda.lines_size(), 2);
  EXPECT_EQ(cuda.lines(1),
            "GPU 1: NVIDIA H100 80GB HBM3 (GPU-fa4e0001-1111-2222-3333-444444444444), "
            "81559 MiB total, 1024 used, 80535 free");
}

TEST_F(DoctorServiceTest, ANvmlCallThatHangsFailsTheCheckAtItsBound) {
  setenv("LLORCH_NVML_LIBRARY", FAKE_NVML, 1);
  setenv("FAKE_NVML_HANG", "1", 1);
  Start();
  v1::RunDoctorResponse response;
  ASSERT_TRUE(Doctor({"gpu.cuda", "git"}, &response).ok());
  const v1::Check& cuda = CheckOf(response, "gpu.cuda");
  EXPECT_EQ(cuda.status(), v1::CHECK_STATUS_FAIL);
  EXPECT_EQ(cuda.detail(),
            "NVML did not answer within 5s (a call into the driver hangs): the driver is not "
            "answering");
  EXPECT_THAT(cuda.fix(), HasSubstr("dmesg"));
  EXPECT_EQ(CheckOf(response, "git").status(), v1::CHECK_STATUS_OK);
}

TEST_F(DoctorServiceTest, OfflineModeIsReportedAsSkippedNotFailed) {
  setenv("HF_HUB_OFFLINE", "1", 1);
  Start();
  v1::RunDoctorResponse response;
  ASSERT_TRUE(Doctor({"hub.reachable"}, &response).ok());
  EXPECT_EQ(response.checks(0).status(), v1::CHECK_STATUS_SKIPPED);
  EXPECT_THAT(response.checks(0).detail(), HasSubstr("offline mode (HF_HUB_OFFLINE)"));
  EXPECT_TRUE(response.ok());
}

TEST_F(DoctorServiceTest, UnknownCheckNamesAreRefusedWithSuggestions) {
  Start();
  v1::RunDoctorResponse response;
  grpc::Status status = Doctor({"git", "disk.model"}, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("did you mean 'disk.models'?"));
  const v1::ErrorHint hint = testing::ErrorHintOf(status);
  EXPECT_EQ(hint.reason(), "INVALID_REQUEST");
  EXPECT_EQ(hint.metadata().at("field"), "names[1]");
  EXPECT_EQ(hint.metadata().at("suggestions"), "disk.models");
}

// The doctor walks the configuration layers as `dev check-config` does (WalkConfigLayers): an
// unknown key and a wrong type fail its config check with the same FILE:LINE findings.
TEST_F(DoctorServiceTest, TheConfigCheckFailsWithTheFindingsOfCheckConfigAtTheirLines) {
  const std::string file = temp_.path() + "/pool.toml";
  testing::WriteFileBytes(file, "# fine when the agent starts\n");
  Config config;
  config.sources.system_file = "";
  config.sources.user_file = file;
  Start(config);
  v1::RunDoctorResponse clean;
  ASSERT_TRUE(Doctor({"config"}, &clean).ok());
  EXPECT_EQ(clean.checks(0).status(), v1::CHECK_STATUS_OK);
  EXPECT_EQ(clean.checks(0).detail(), "valid: " + file);

  // Changed after the agent started: both read it as it is now.
  testing::WriteFileBytes(file, "[workers]\nport_frist = 8001\nport_last = \"high\"\n");
  v1::RunDoctorResponse response;
  ASSERT_TRUE(Doctor({"config"}, &response).ok());
  const v1::Check& check = response.checks(0);
  EXPECT_EQ(check.status(), v1::CHECK_STATUS_FAIL);
  EXPECT_FALSE(response.ok());
  std::vector<std::string> lines = {check.detail()};
  lines.insert(lines.end(), check.lines().begin(), check.lines().end());

  v1::CheckConfigResponse checked;
  grpc::ClientContext context;
  ASSERT_TRUE(v1::DevService::NewStub(agent_.server->InProcessChannel())
                  ->CheckConfig(&context, v1::CheckConfigRequest(), &checked)
                  .ok());
  std::vector<std::string> expected;
  for (const v1::ConfigFile& config_file : checked.files()) {
    for (const v1::ConfigProblem& problem : config_file.problems()) {
      if (problem.severity() != v1::CONFIG_SEVERITY_ERROR) continue;
      expected.push_back(absl::StrCat(problem.path(), ":", problem.line(), ": ", problem.message(),
                                      " (fix: ", problem.fix(), ")"));
    }
  }
  ASSERT_EQ(expected.size(), 2u) << checked.DebugString();
  EXPECT_EQ(lines, expected);
  EXPECT_THAT(lines[0], HasSubstr(file + ":2: unknown key"));
  EXPECT_THAT(lines[0], HasSubstr("port_first"));
  EXPECT_THAT(lines[1], HasSubstr(file + ":3: "));
  EXPECT_THAT(check.fix(), HasSubstr("llorch-pool dev check-config"));
}

}  // namespace
}  // namespace llorch
