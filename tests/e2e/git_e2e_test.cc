// `llorch-pool git ...` as a user runs it, installed, on a real checkout with submodules
// (tests/support/git_fixture.h): what the tables say, the questions asked before work is lost
// (and the refusal to go on without a terminal), and the exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/git_fixture.h"

namespace llorch::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class GitE2eTest : public ::testing::Test {
 protected:
  GitE2eTest() : clone_(git_.Clone("checkout")) {
    for (const auto& [key, value] : git_.Env()) {
      if (key.rfind("GIT_", 0) == 0) env_.env()[key] = value;
    }
  }

  // llorch-pool in the checkout, as an operator on the host runs it.
  CommandResult Run(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {InstalledBinary("llorch-pool")};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = clone_;
    return RunCommand(argv, options);
  }

  std::string Head() const { return git_.Git(clone_, {"rev-parse", "HEAD"}); }

  GitFixture git_;
  std::string clone_;
  E2eEnvironment env_;
};

TEST_F(GitE2eTest, StatusShowsTheCheckoutItRunsIn) {
  git_.WriteFile(clone_, "README.md", "edited\n");
  CommandResult result = Run({"git", "status"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("repository  " + clone_));
  EXPECT_THAT(result.out, HasSubstr("branch      main"));
  EXPECT_THAT(result.out, HasSubstr("upstream    origin/main, up to date"));
  EXPECT_THAT(result.out, HasSubstr("0 staged, 1 unstaged, 0 untracked"));
  EXPECT_THAT(result.out, HasSubstr("reference/alpha"));
  EXPECT_THAT(result.out, HasSubstr("(detached)"));
  EXPECT_THAT(result.out, HasSubstr("missing: declared, no commit recorded"));
  EXPECT_THAT(result.out, Not(HasSubstr("README.md")));  // counts only, unless asked
  EXPECT_THAT(Run({"git", "status", "--files"}).out, HasSubstr(".M README.md"));

  CommandResult json = Run({"git", "status", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json status = nlohmann::json::parse(json.out);
  EXPECT_EQ(status["branch"], "main");
  EXPECT_EQ(status["submodules"].size(), 3u);
  EXPECT_EQ(status["head"]["sha"], Head());
}

TEST_F(GitE2eTest, PullPrintsWhatItBrought) {
  git_.PushToOrigin("NEWS.md", "news\n", "Add the news");
  CommandResult result = Run({"git", "pull"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr(": 1 commit, 1 file changed"));
  EXPECT_THAT(result.out, HasSubstr("Add the news"));
  EXPECT_TRUE(std::filesystem::exists(clone_ + "/NEWS.md"));
  CommandResult again = Run({"git", "pull"});
  EXPECT_THAT(again.out, HasSubstr("Already up to date"));
}

TEST_F(GitE2eTest, SyncShowsWhatWouldBeLostAndAsksFirst) {
  git_.WriteFile(clone_, "README.md", "edited\n");
  const std::string head = Head();
  CommandResult refused = Run({"git", "sync"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("Uncommitted changes would be discarded"));
  EXPECT_THAT(refused.err, HasSubstr(".M README.md"));
  EXPECT_THAT(refused.err, HasSubstr("refusing to discard local work and reset to origin/main "
                                     "without confirmation"));
  EXPECT_THAT(refused.err, HasSubstr("hint: run `llorch-pool git sync --force`"));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/README.md"), "edited\n");

  CommandResult synced = Run({"git", "sync", "--force"});
  ASSERT_EQ(synced.exit_code, 0) << synced.err;
  EXPECT_THAT(synced.out, HasSubstr("Synced to origin/main"));
  EXPECT_NE(testing::ReadFileBytes(clone_ + "/README.md"), "edited\n");
  EXPECT_EQ(Head(), head);
}

TEST_F(GitE2eTest, CleanListsAsksAndKeepsTheModels) {
  git_.WriteFile(clone_, "junk.txt", "junk\n");
  git_.WriteFile(clone_, ".test-models/tinyllama/model.gguf", "GGUF\n");
  CommandResult preview = Run({"git", "clean", "--dry-run"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_THAT(preview.out, HasSubstr("Would remove:\n  junk.txt"));
  CommandResult refused = Run({"git", "clean"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("hint: run `llorch-pool git clean --force`"));
  EXPECT_TRUE(std::filesystem::exists(clone_ + "/junk.txt"));
  CommandResult cleaned = Run({"git", "clean", "--force"});
  ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
  EXPECT_THAT(cleaned.out, HasSubstr("Removed:\n  junk.txt"));
  EXPECT_FALSE(std::filesystem::exists(clone_ + "/junk.txt"));
  EXPECT_TRUE(std::filesystem::exists(clone_ + "/.test-models/tinyllama/model.gguf"));
}

TEST_F(GitE2eTest, SubmodulesOnABranchAreKeptWithAWarning) {
  CommandResult switched = Run({"git", "submodules", "branch", "--name", "reference/alpha",
                                "--branch", "llorch/metal-bugfixes"});
  ASSERT_EQ(switched.exit_code, 0) << switched.err;
  EXPECT_THAT(switched.out, HasSubstr("llorch/metal-bugfixes"));
  CommandResult updated = Run({"git", "submodules", "update", "--all"});
  ASSERT_EQ(updated.exit_code, 0) << updated.err;
  EXPECT_THAT(updated.out, HasSubstr("reference/alpha is on a branch and was left there"));
  EXPECT_EQ(git_.Git(clone_ + "/reference/alpha", {"branch", "--show-current"}),
            "llorch/metal-bugfixes");
  CommandResult list = Run({"git", "submodules", "list"});
  EXPECT_THAT(list.out, HasSubstr("not at the recorded commit"));
  CommandResult reset = Run({"git", "submodules", "reset", "--name", "reference/alpha"});
  ASSERT_EQ(reset.exit_code, 0) << reset.err;
  EXPECT_THAT(reset.out, HasSubstr("reference/alpha is at the recorded commit"));
}

TEST_F(GitE2eTest, BadNamesAreRefusedAsBadInput) {
  CommandResult name = Run({"git", "submodules", "status", "--name", "reference/alhpa"});
  EXPECT_EQ(name.exit_code, 2);
  EXPECT_THAT(name.err, HasSubstr("no submodule 'reference/alhpa' in .gitmodules (did you mean "
                                  "'reference/alpha'?)"));
  CommandResult branch = Run({"git", "submodules", "branch", "--name", "reference/alpha",
                              "--branch=--upload-pack=touch /tmp/llorch-injected"});
  EXPECT_EQ(branch.exit_code, 2);
  EXPECT_THAT(branch.err, HasSubstr("is not a valid branch name: it may not start with '-'"));
  EXPECT_FALSE(std::filesystem::exists("/tmp/llorch-injected"));
}

TEST_F(GitE2eTest, OutsideACheckoutItSaysHowToPointAtOne) {
  CommandResult result = env_.Run({"git", "status"});  // the e2e work dir is no checkout
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("the agent has no repository checkout"));
  EXPECT_THAT(result.err, HasSubstr("hint: set repo_root"));
}

}  // namespace
}  // namespace llorch::testing
