// `llorch-pool dev doctor` as an operator runs it on a new host: the installed binary, a PATH
// holding only the stand-ins each test writes (tests/support/tool_stand_ins.h), a git checkout
// as the working directory; what the user reads and the exit code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_hub.h"
#include "tests/support/small_disk.h"
#include "tests/support/tool_stand_ins.h"

namespace llorch::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class DoctorE2eTest : public ::testing::Test {
 protected:
  DoctorE2eTest() : tools_(env_.Path("bin")) {
    EXPECT_EQ(RunCommand({"git", "init", "-q", env_.Path("work")}).exit_code, 0);
    tools_.AddEveryTool();
    env_.env()["PATH"] = tools_.path();
  }

  // The check named `name` of a `dev doctor -o json` run.
  static nlohmann::json CheckOf(const CommandResult& result, const std::string& name) {
    const nlohmann::json response = nlohmann::json::parse(result.out);
    for (const nlohmann::json& check : response["checks"]) {
      if (check["name"] == name) return check;
    }
    ADD_FAILURE() << "no check " << name << " in " << result.out;
    return {};
  }

  E2eEnvironment env_;
  ToolStandIns tools_;
};

TEST_F(DoctorE2eTest, AHostWithEveryToolPassesWithAFlutterStyleViewAndExitsZero) {
  FakeHub hub;
  env_.env()["HF_ENDPOINT"] = hub.endpoint();
  tools_.AddNvidiaSmi(1);
  CommandResult result = env_.Run({"dev", "doctor"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✓] git: git version "));
  EXPECT_THAT(result.out, HasSubstr("[✓] hf.cli: huggingface_hub version: 0.36.0"));
  EXPECT_THAT(result.out, HasSubstr("[✓] rust.toolchain: rustc 1.95.0"));
  EXPECT_THAT(result.out, HasSubstr("[✓] git.submodules: no submodules declared"));
  EXPECT_THAT(result.out, HasSubstr("[✓] disk.models: " + env_.models_dir()));
  EXPECT_THAT(result.out, HasSubstr("[✓] gpu.cuda: driver 550.54.15, 1 GPU\n"
                                    "    GPU 0: NVIDIA A100-SXM4-80GB (GPU-00000000-aaaa-bbbb-cccc-"
                                    "dddddddddddd), 81920 MiB total, 0 used, 81920 free\n"));
  EXPECT_THAT(result.out, HasSubstr("[-] gpu.metal: not macOS"));
  EXPECT_THAT(result.out, HasSubstr("[✓] config: no configuration file"));
  EXPECT_THAT(result.out, HasSubstr("[✓] hub.reachable: " + hub.endpoint() + " answers"));
  // The converter script is not in this checkout: an optional check, so a warning with its fix.
  EXPECT_THAT(result.out, HasSubstr("[!] python.converter (optional): Python 3.11.2; cannot "
                                    "convert gpt2, granite"));
  EXPECT_THAT(result.out, HasSubstr("    fix: fetch the converter with `llorch-pool git "
                                    "submodules update --name reference/llama.cpp`"));
  EXPECT_THAT(result.out, HasSubstr("Ready, with warnings"));
  EXPECT_THAT(result.out, Not(HasSubstr("\x1b[")));  // not a terminal: no colours
}

TEST_F(DoctorE2eTest, HfMissingIsReportedAsOptionalAndTheExitCodeStaysZero) {
  tools_.Remove("hf");
  CommandResult result = env_.Run({"dev", "doctor"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[!] hf.cli (optional): no `hf` in PATH; the native "
                                    "downloader (download.backend = \"native\") needs none"));
  EXPECT_THAT(result.out, HasSubstr("    fix: pipx install 'huggingface_hub[cli]'"));
}

TEST_F(DoctorE2eTest, OnlyTheDeprecatedHuggingfaceCliIsAWarningThatSaysSo) {
  tools_.Remove("hf");
  tools_.AddPrinting("huggingface-cli", "huggingface_hub version: 0.20.0");
  CommandResult result = env_.Run({"dev", "doctor", "hf.cli", "-o", "json"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  const nlohmann::json hf = CheckOf(result, "hf.cli");
  EXPECT_EQ(hf["status"], "CHECK_STATUS_WARN");
  EXPECT_THAT(hf["detail"].get<std::string>(), HasSubstr("only the deprecated huggingface-cli (" +
                                                         tools_.path() + "/huggingface-cli)"));
  EXPECT_THAT(hf["detail"].get<std::string>(), HasSubstr("native downloader"));
  EXPECT_THAT(hf["fix"].get<std::string>(), HasSubstr("pipx install 'huggingface_hub[cli]'"));
}

TEST_F(DoctorE2eTest, WithTheHfBackendAMissingHfCliIsRequiredAndFails) {
  WriteFileBytes(env_.Path("config/llorch/pool.toml"), "[download]\nbackend = \"hf\"\n");
  tools_.Remove("hf");
  CommandResult result = env_.Run({"dev", "doctor", "hf.cli"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✗] hf.cli: no `hf` in PATH; download.backend = \"hf\""));
  EXPECT_THAT(result.out, HasSubstr("Required checks failed"));
}

TEST_F(DoctorE2eTest, RustcMissingFailsWithTheRustupFixAndExitsOne) {
  tools_.Remove("rustc");
  CommandResult result = env_.Run({"dev", "doctor"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✗] rust.toolchain: rustc not found in PATH\n"
                                    "    fix: install Rust with rustup (https://rustup.rs"));
  EXPECT_THAT(result.out, HasSubstr("✗ Required checks failed"));
  EXPECT_THAT(result.out, HasSubstr("1 failure"));
}

TEST_F(DoctorE2eTest, GpusAreListedForZeroOneAndEightAndSkippedWithoutNvidiaSmi) {
  CommandResult none = env_.Run({"dev", "doctor", "gpu.cuda", "gpu.cuda.uvm", "-o", "json"});
  EXPECT_EQ(none.exit_code, 0) << none.out << none.err;
  EXPECT_EQ(CheckOf(none, "gpu.cuda")["status"], "CHECK_STATUS_SKIPPED");
  EXPECT_THAT(CheckOf(none, "gpu.cuda")["detail"].get<std::string>(),
              HasSubstr("no nvidia-smi in PATH"));
  EXPECT_EQ(CheckOf(none, "gpu.cuda.uvm")["status"], "CHECK_STATUS_SKIPPED");

  tools_.AddNvidiaSmi(0);
  CommandResult zero = env_.Run({"dev", "doctor", "gpu.cuda", "-o", "json"});
  EXPECT_EQ(zero.exit_code, 0) << zero.out << zero.err;
  EXPECT_EQ(CheckOf(zero, "gpu.cuda")["status"], "CHECK_STATUS_WARN");
  EXPECT_THAT(CheckOf(zero, "gpu.cuda")["detail"].get<std::string>(), HasSubstr("found no GPU"));

  for (int gpus : {1, 8}) {
    tools_.AddNvidiaSmi(gpus);
    CommandResult some = env_.Run({"dev", "doctor", "gpu.cuda", "gpu.cuda.uvm", "-o", "json"});
    EXPECT_EQ(some.exit_code, 0) << some.out << some.err;
    const nlohmann::json cuda = CheckOf(some, "gpu.cuda");
    EXPECT_EQ(cuda["status"], "CHECK_STATUS_OK");
    EXPECT_THAT(cuda["detail"].get<std::string>(),
                HasSubstr("driver 550.54.15, " + std::to_string(gpus)));
    ASSERT_EQ(cuda["lines"].size(), static_cast<size_t>(gpus));
    EXPECT_THAT(cuda["lines"].back().get<std::string>(),
                HasSubstr("GPU " + std::to_string(gpus - 1) + ": NVIDIA A100-SXM4-80GB"));
    // /dev/nvidia-uvm is looked for once there are GPUs.
    const bool uvm = access("/dev/nvidia-uvm", F_OK) == 0;
    EXPECT_EQ(CheckOf(some, "gpu.cuda.uvm")["status"],
              uvm ? "CHECK_STATUS_OK" : "CHECK_STATUS_WARN");
  }
}

TEST_F(DoctorE2eTest, AHangingNvidiaSmiIsCutOffAndReportedWhileTheOtherChecksFinish) {
  tools_.AddHangingNvidiaSmi();
  CommandResult result = env_.Run({"dev", "doctor"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✗] gpu.cuda: " + tools_.path() +
                                    "/nvidia-smi did not answer within 5s and was stopped"));
  EXPECT_THAT(result.out, HasSubstr("[✓] git: git version"));
  EXPECT_THAT(result.out, HasSubstr("[-] gpu.cuda.uvm: no NVIDIA GPU found"));
}

TEST_F(DoctorE2eTest, AReadOnlyModelsDirFailsWithItsReason) {
  std::filesystem::create_directories(env_.models_dir());
  SmallDisk disk(SMALL_DISK, env_.models_dir(), 1, env_.Path("small_disk.log"),
                 /*read_only=*/true);
  if (!disk.mounted()) GTEST_SKIP() << ReadFileBytes(env_.Path("small_disk.log"));
  CommandOptions options;
  options.env = env_.env();
  options.working_dir = env_.Path("work");
  CommandResult result = RunCommand(
      disk.Command({InstalledBinary("llorch-pool"), "dev", "doctor", "disk.models"}), options);
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✗] disk.models: " + env_.models_dir() +
                                    ", tmpfs, 1.05 MB free; not writable: Read-only file system"));
  EXPECT_THAT(result.out, HasSubstr("fix: make it writable for this user"));
}

TEST_F(DoctorE2eTest, TheHubUnreachableWarnsAndOfflineModeIsReportedNotFailed) {
  // HF_ENDPOINT is a port nobody listens on (tests/CMakeLists.txt).
  CommandResult unreachable = env_.Run({"dev", "doctor", "hub.reachable"});
  EXPECT_EQ(unreachable.exit_code, 0) << unreachable.out << unreachable.err;
  EXPECT_THAT(unreachable.out, HasSubstr("[!] hub.reachable (optional): cannot reach "));
  EXPECT_THAT(unreachable.out, HasSubstr("fix: check the network"));

  env_.env()["HF_HUB_OFFLINE"] = "1";
  CommandResult offline = env_.Run({"dev", "doctor", "hub.reachable"});
  EXPECT_EQ(offline.exit_code, 0) << offline.out << offline.err;
  EXPECT_THAT(offline.out, HasSubstr("[-] hub.reachable: offline mode (HF_HUB_OFFLINE)"));
  EXPECT_THAT(offline.out, HasSubstr("No issues found"));
}

TEST_F(DoctorE2eTest, AnUnknownCheckIsBadUsageWithTheClosestName) {
  CommandResult result = env_.Run({"dev", "doctor", "gpu.cdua"});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_THAT(result.err,
              HasSubstr("error: names[0]: unknown check 'gpu.cdua' (did you mean 'gpu.cuda'?)"));
  EXPECT_THAT(result.err, HasSubstr("the checks are: git, hf.cli"));
  EXPECT_THAT(result.out, ::testing::IsEmpty());
}

TEST_F(DoctorE2eTest, ColoursOnlyWhenAskedAndNeverWithNoColor) {
  WriteFileBytes(env_.Path("config/llorch/pool.toml"), "[client]\ncolor = \"always\"\n");
  CommandResult coloured = env_.Run({"dev", "doctor", "git"});
  EXPECT_THAT(coloured.out, HasSubstr("\x1b["));
  CommandResult flag = env_.Run({"dev", "doctor", "git", "--no-color"});
  EXPECT_THAT(flag.out, Not(HasSubstr("\x1b[")));
  EXPECT_THAT(flag.out, HasSubstr("[✓] git"));
  env_.env()["NO_COLOR"] = "1";
  EXPECT_THAT(env_.Run({"dev", "doctor", "git"}).out, Not(HasSubstr("\x1b[")));
}

TEST_F(DoctorE2eTest, HelpListsTheChecksWithExamples) {
  CommandResult help = env_.Run({"dev", "doctor", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_THAT(help.out, HasSubstr("llorch-pool dev doctor gpu.cuda disk.models"));
  EXPECT_THAT(help.out, HasSubstr("hub.reachable"));
}

}  // namespace
}  // namespace llorch::testing
