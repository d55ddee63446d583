// `llorch-pool dev setup` as an operator runs it on a new host: the installed binary, standalone,
// in a fresh clone of a checkout with submodules (tests/support/git_fixture.h) whose submodules
// are not initialized, the fake Hub serving the catalog's one model, a PATH holding only
// stand-ins (tests/support/tool_stand_ins.h). What the user reads, the exit code, and what is on
// disk before and after.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/git_fixture.h"
#include "tests/support/pty_session.h"
#include "tests/support/tool_stand_ins.h"
#include "tests/support/tree_snapshot.h"

namespace llorch::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kSize = 1 << 20;
constexpr char kRepo[] = "owner/Tiny-GGUF";
constexpr char kFile[] = "tiny.Q4_K_M.gguf";

class SetupE2eTest : public ::testing::Test {
 protected:
  SetupE2eTest()
      : clone_(git_.Clone("checkout", /*init_submodules=*/false)),
        tools_(env_.Path("bin")),
        content_(GgufFileOfSize(kSize, 5)) {
    // A checkout whose every declared submodule is recorded (the fixture's reference/ghost is
    // not: the doctor's required submodule check would fail on it).
    git_.Git(clone_,
             {"config", "-f", ".gitmodules", "--remove-section", "submodule.reference/ghost"});
    git_.Git(clone_, {"commit", "-q", "-am", "Drop the ghost submodule"});
    for (const auto& [key, value] : git_.Env()) {
      if (key.rfind("GIT_", 0) == 0) env_.env()[key] = value;
    }
    env_.env().erase("LLORCH_MODELS_DIR");  // the checkout's own: .test-models in it
    tools_.AddEveryTool();
    // The stand-ins first; then the system's, for what git's own helpers run (git submodule is a
    // shell script).
    env_.env()["PATH"] = tools_.path() + ":/usr/bin:/bin";
    hub_.AddFile(kRepo, kFile, content_);
    WriteFileBytes(env_.Path("catalog.toml"),
                   absl::StrCat("[[models]]\nid = \"tiny\"\nname = \"Tiny\"\nrepo = \"", kRepo,
                                "\"\nfile = \"", kFile, "\"\ndir = \"tiny\"\nsize_bytes = ", kSize,
                                "\nverified = true\n"));
    env_.env()["LLORCH_CATALOG"] = env_.Path("catalog.toml");
    env_.env()["HF_ENDPOINT"] = hub_.endpoint();
  }

  // llorch-pool in the checkout.
  CommandResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {InstalledBinary("llorch-pool")};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = clone_;
    return RunCommand(argv, options);
  }

  std::string ConfigFile() const { return env_.Path("config/llorch/pool.toml"); }
  std::string ModelFile() const { return clone_ + "/.test-models/tiny/" + kFile; }

  // What setup may change: the checkout's files (submodules, models dir) and the config dir,
  // with each file's bytes and modification time. Inside .git, only which submodules git knows
  // (git refreshes its index's stat cache when merely asked for a status).
  std::map<std::string, std::string> Disk() const {
    std::map<std::string, std::string> disk;
    for (const std::string& root : {clone_, env_.Path("config")}) {
      for (const auto& [path, bytes] : SnapshotTree(root)) {
        if (path.rfind(".git/", 0) == 0 && path.rfind(".git/modules/", 0) != 0) continue;
        if (path.find("/.git/") != std::string::npos) continue;
        disk[root + "/" + path] = path.rfind(".git/modules/", 0) == 0 ? "(git)" : bytes;
      }
      for (const fs::directory_entry& entry : fs::recursive_directory_iterator(root)) {
        const std::string path = entry.path().string();
        if (!entry.is_regular_file() || path.find("/.git/") != std::string::npos) continue;
        disk[path + " mtime"] =
            std::to_string(fs::last_write_time(entry.path()).time_since_epoch().count());
      }
    }
    return disk;
  }

  // The paths whose entry differs between two Disk()s.
  static std::vector<std::string> Changed(const std::map<std::string, std::string>& before,
                                          const std::map<std::string, std::string>& after) {
    std::vector<std::string> changed;
    for (const auto& [path, value] : before) {
      auto found = after.find(path);
      if (found == after.end() || found->second != value) changed.push_back(path);
    }
    for (const auto& [path, value] : after) {
      if (before.count(path) == 0) changed.push_back(path);
    }
    return changed;
  }

  // The step named `name` of a `dev setup -o json` run's result (its last line).
  static nlohmann::json StepOf(const CommandResult& result, const std::string& name) {
    // -o json: one document, the operation's final result.
    const nlohmann::json result_json = nlohmann::json::parse(result.out);
    for (const nlohmann::json& step : result_json["steps"]) {
      if (step["name"] == name) return step;
    }
    ADD_FAILURE() << "no step " << name << " in " << result.out;
    return {};
  }

  E2eEnvironment env_;
  GitFixture git_;
  std::string clone_;
  ToolStandIns tools_;
  FakeHub hub_;
  std::string content_;
};

TEST_F(SetupE2eTest, ADryRunShowsThePlanAndChangesNothing) {
  const auto before = Disk();
  CommandResult result = Run({"dev", "setup", "--dry-run"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("Setup plan (nothing changed yet):\n"));
  EXPECT_THAT(result.out, HasSubstr("[+] submodules: will do: initialize reference/alpha, "
                                    "reference/beta at their recorded commits\n"));
  EXPECT_THAT(result.out, HasSubstr("[-] hf: skipped: download.backend is \"native\": the native "
                                    "downloader needs no hf CLI\n"));
  EXPECT_THAT(result.out, HasSubstr("[+] model: will do: download tiny (1.05 MB) from " +
                                    std::string(kRepo) + ", verified, to " + ModelFile() + "\n"));
  EXPECT_THAT(result.out,
              HasSubstr("[+] config: will do: write the default configuration to " + ConfigFile()));
  EXPECT_THAT(result.out, HasSubstr("[+] doctor: will do: run the doctor's checks"));
  EXPECT_THAT(result.out, HasSubstr("4 steps to do, 0 already done, 1 skipped."));
  EXPECT_THAT(Changed(before, Disk()), ::testing::IsEmpty());
}

TEST_F(SetupE2eTest, ARealRunSetsTheHostUpAndASecondRunChangesNothing) {
  CommandResult result = Run({"dev", "setup", "--yes"});
  ASSERT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✓] submodules: done: initialized reference/alpha, "
                                    "reference/beta\n"));
  EXPECT_THAT(result.out, HasSubstr("[✓] model: done: downloaded tiny, verified: " + ModelFile()));
  EXPECT_THAT(result.out,
              HasSubstr("[✓] config: done: wrote the default configuration to " + ConfigFile()));
  EXPECT_THAT(result.out, HasSubstr("[✓] doctor: already done: "));
  EXPECT_THAT(result.out, HasSubstr("✓ Host set up (3 done, 1 already done, 1 skipped, 0 failed)"));
  // Progress by steps on stderr, each step's own in between.
  EXPECT_THAT(result.err, HasSubstr("setup"));
  EXPECT_EQ(ReadFileBytes(ModelFile()), content_);
  EXPECT_EQ(git_.Git(clone_, {"-C", "reference/alpha", "rev-parse", "HEAD"}),
            git_.RecordedSubmoduleCommit("alpha"));
  const std::string config = ReadFileBytes(ConfigFile());
  EXPECT_THAT(config, HasSubstr("# [download]\n# backend = \"native\"\n"));
  // The written file is a configuration the agent accepts, and the doctor finds it valid.
  CommandResult check = Run({"dev", "check-config"});
  EXPECT_EQ(check.exit_code, 0) << check.out;

  // Again, without --yes and without a terminal: nothing to change, so nothing to ask.
  const auto before = Disk();
  CommandResult again = Run({"dev", "setup", "-o", "json"});
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  for (const char* step : {"submodules", "model", "config", "doctor"}) {
    EXPECT_EQ(StepOf(again, step)["action"], "SETUP_ACTION_ALREADY_DONE") << step;
  }
  EXPECT_EQ(StepOf(again, "hf")["action"], "SETUP_ACTION_SKIPPED");
  EXPECT_THAT(Changed(before, Disk()), ::testing::IsEmpty());
}

TEST_F(SetupE2eTest, WithoutATerminalAndWithoutYesItRefusesAndSaysWhichFlag) {
  const auto before = Disk();
  CommandResult result = Run({"dev", "setup"});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("refusing to set the host up without confirmation"));
  EXPECT_THAT(result.err, HasSubstr("run `llorch-pool dev setup --yes`"));
  EXPECT_THAT(result.err, HasSubstr("[+] model: will do: download tiny"));
  EXPECT_THAT(Changed(before, Disk()), ::testing::IsEmpty());
}

// At a terminal: the plan, then the question; anything but yes changes nothing, yes sets up.
TEST_F(SetupE2eTest, AtATerminalItShowsThePlanAsksAndOnlyYesGoesAhead) {
  CommandOptions options;
  options.env = env_.env();
  options.working_dir = clone_;
  const std::vector<std::string> argv = {InstalledBinary("llorch-pool"), "dev", "setup"};
  const auto before = Disk();
  {
    PtySession terminal(argv, options);
    ASSERT_TRUE(terminal.WaitFor("[y/N]")) << terminal.screen();
    EXPECT_THAT(terminal.text(), HasSubstr("[+] model: will do: download tiny"));
    EXPECT_THAT(terminal.text(), HasSubstr("\nSet the host up as planned? [y/N] "));
    EXPECT_THAT(terminal.screen(), HasSubstr("\x1b[33m[+]\x1b[0m"));  // a terminal gets colours
    terminal.Type("\r");                                              // the default is no
    EXPECT_EQ(terminal.Wait(), 1) << terminal.screen();
    EXPECT_THAT(terminal.text(), HasSubstr("Nothing changed."));
  }
  EXPECT_THAT(Changed(before, Disk()), ::testing::IsEmpty());

  PtySession terminal(argv, options);
  ASSERT_TRUE(terminal.WaitFor("[y/N]")) << terminal.screen();
  terminal.Type("y\r");
  EXPECT_EQ(terminal.Wait(), 0) << terminal.screen();
  EXPECT_THAT(terminal.text(), HasSubstr("✓ Host set up (3 done, 1 already done"));
  EXPECT_EQ(ReadFileBytes(ModelFile()), content_);
}

TEST_F(SetupE2eTest, ForceReplacesAnExistingConfigKeepingABackupAndSkipSkips) {
  const std::string mine = "[client]\ncolor = \"never\"\n";
  WriteFileBytes(ConfigFile(), mine);
  const std::vector<std::string> only_config = {"dev",    "setup", "--yes",  "--skip", "submodules",
                                                "--skip", "model", "--skip", "doctor"};
  CommandResult kept = Run(only_config);
  ASSERT_EQ(kept.exit_code, 0) << kept.out << kept.err;
  EXPECT_THAT(kept.out, HasSubstr("[✓] config: already done: " + ConfigFile() +
                                  " exists: kept as it is (--force replaces it, keeping a "
                                  "backup)"));
  EXPECT_THAT(kept.out, HasSubstr("[-] model: skipped: skipped on request (--skip model)"));
  EXPECT_EQ(ReadFileBytes(ConfigFile()), mine);
  EXPECT_FALSE(fs::exists(clone_ + "/.test-models"));
  EXPECT_FALSE(fs::exists(clone_ + "/reference/alpha/README.md"));

  std::vector<std::string> forced = only_config;
  forced.push_back("--force");
  CommandResult replaced = Run(forced);
  ASSERT_EQ(replaced.exit_code, 0) << replaced.out << replaced.err;
  EXPECT_THAT(replaced.out, HasSubstr("[✓] config: done: replaced " + ConfigFile() +
                                      " with the default configuration; the old one is " +
                                      ConfigFile() + ".bak-"));
  std::vector<std::string> backups;
  for (const fs::directory_entry& entry : fs::directory_iterator(env_.Path("config/llorch"))) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("pool.toml.bak-", 0) == 0) backups.push_back(entry.path().string());
  }
  ASSERT_EQ(backups.size(), 1u);
  EXPECT_EQ(ReadFileBytes(backups[0]), mine);
  EXPECT_THAT(ReadFileBytes(ConfigFile()), HasSubstr("# backend = \"native\""));
  // The default is there now: --force again has nothing to replace, and makes no backup.
  CommandResult again = Run(forced);
  EXPECT_THAT(again.out, HasSubstr("[✓] config: already done: " + ConfigFile() +
                                   " already holds the default configuration"));
  size_t count = 0;
  for (const auto& entry : fs::directory_iterator(env_.Path("config/llorch"))) {
    count += entry.path().filename().string().rfind("pool.toml.bak-", 0) == 0 ? 1 : 0;
  }
  EXPECT_EQ(count, 1u);
}

// Only the hf backend needs the hf CLI: installed with pipx, else with pip --user through
// python3, the command shown; found the next time.
TEST_F(SetupE2eTest, WithTheHfBackendTheHfCliIsInstalledWithPipxElsePipAndTheCommandShown) {
  WriteFileBytes(ConfigFile(), "[download]\nbackend = \"hf\"\n");
  tools_.Remove("hf");
  // This pipx "installs" hf: it writes its arguments down and an hf into the PATH.
  tools_.AddScript("pipx", "echo \"$@\" > " + env_.Path("pipx-args") +
                               "\nprintf '#!/bin/sh\\necho huggingface_hub version: 0.36.0\\n' > " +
                               tools_.path() + "/hf\nchmod 755 " + tools_.path() + "/hf");
  const std::vector<std::string> only_hf = {"dev",   "setup",  "--skip", "submodules", "--skip",
                                            "model", "--skip", "config", "--skip",     "doctor"};
  std::vector<std::string> dry_run = only_hf;
  dry_run.push_back("--dry-run");
  CommandResult plan = Run(dry_run);
  ASSERT_EQ(plan.exit_code, 0) << plan.out << plan.err;
  EXPECT_THAT(plan.out, HasSubstr("[+] hf: will do: install the hf CLI (download.backend is "
                                  "\"hf\" and no `hf` is in PATH)\n"
                                  "      command: pipx install 'huggingface_hub[cli]'\n"));
  EXPECT_FALSE(fs::exists(env_.Path("pipx-args")));

  std::vector<std::string> yes = only_hf;
  yes.push_back("--yes");
  CommandResult installed = Run(yes);
  ASSERT_EQ(installed.exit_code, 0) << installed.out << installed.err;
  EXPECT_THAT(installed.out, HasSubstr("[✓] hf: done: installed the hf CLI\n"
                                       "      command: pipx install 'huggingface_hub[cli]'\n"));
  EXPECT_EQ(ReadFileBytes(env_.Path("pipx-args")), "install huggingface_hub[cli]\n");
  CommandResult again = Run(only_hf);
  ASSERT_EQ(again.exit_code, 0) << again.out << again.err;
  EXPECT_THAT(again.out, HasSubstr("[✓] hf: already done: hf CLI found: " + tools_.path() + "/hf"));

  // No pipx: pip --user, run by the configured python (this one installs nothing).
  tools_.Remove("pipx");
  tools_.Remove("hf");
  tools_.AddScript("python3", "echo \"$@\" > " + env_.Path("pip-args"));
  CommandResult pip = Run(yes);
  ASSERT_EQ(pip.exit_code, 0) << pip.out << pip.err;
  EXPECT_THAT(pip.out, HasSubstr("      command: python3 -m pip install --user "
                                 "'huggingface_hub[cli]'\n"));
  EXPECT_THAT(pip.out, HasSubstr("is still not in the agent's PATH"));
  EXPECT_EQ(ReadFileBytes(env_.Path("pip-args")), "-m pip install --user huggingface_hub[cli]\n");
}

TEST_F(SetupE2eTest, AFailingStepSaysHowToRetryExitsOneAndTheOtherStepsStay) {
  env_.env()["HF_ENDPOINT"] = "http://127.0.0.1:9";  // nothing listens there
  WriteFileBytes(env_.Path("fail.toml"), "[download]\nmax_attempts = 1\n");
  CommandResult result =
      Run({"--config", env_.Path("fail.toml"), "dev", "setup", "--yes", "--skip", "doctor"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✗] model: failed"));
  EXPECT_THAT(result.out, HasSubstr("      retry: llorch-pool models download tiny, or go on "
                                    "without it: llorch-pool dev setup --skip model --skip "
                                    "doctor\n"));
  EXPECT_THAT(result.out, HasSubstr("✗ Setup incomplete"));
  EXPECT_THAT(result.out, HasSubstr("model failed; see retry above."));
  // The steps before and after it did their work.
  EXPECT_THAT(result.out, HasSubstr("[✓] submodules: done: initialized reference/alpha"));
  EXPECT_THAT(result.out, HasSubstr("[✓] config: done: wrote the default configuration"));
  EXPECT_EQ(git_.Git(clone_, {"-C", "reference/beta", "rev-parse", "HEAD"}),
            git_.RecordedSubmoduleCommit("beta"));
  EXPECT_TRUE(fs::exists(ConfigFile()));
  EXPECT_FALSE(fs::exists(ModelFile()));
}

TEST_F(SetupE2eTest, AnUnknownStepIsRefusedWithTheValidOnes) {
  CommandResult result = Run({"dev", "setup", "--dry-run", "--skip", "modle"});
  EXPECT_EQ(result.exit_code, 2) << result.out << result.err;
  EXPECT_THAT(result.err, HasSubstr("modle"));
  EXPECT_THAT(result.err, HasSubstr("submodules"));
  EXPECT_THAT(result.err, HasSubstr("doctor"));
  EXPECT_THAT(result.out, Not(HasSubstr("Setup")));
}

}  // namespace
}  // namespace llorch::testing
