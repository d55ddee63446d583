// `llorch-pool git ...` as a user runs it, installed, on a real checkout with submodules
// (tests/support/git_fixture.h): what the tables say, the questions asked before work is lost
// (and the refusal to go on without a terminal), and the exit codes.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <sstream>

#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/git_fixture.h"

namespace llorch::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

// The paths a git view lists under `header` ("Would remove:"): its lines indented by two spaces.
std::vector<std::string> ListedUnder(const std::string& out, const std::string& header) {
  std::vector<std::string> paths;
  std::istringstream lines(out);
  bool inside = false;
  for (std::string line; std::getline(lines, line);) {
    if (line == header) {
      inside = true;
    } else if (inside && line.rfind("  ", 0) == 0) {
      paths.push_back(line.substr(2));
    } else {
      inside = false;
    }
  }
  return paths;
}

class GitE2eTest : public ::testing::Test {
 protected:
  GitE2eTest() : clone_(git_.Clone("checkout")) {
    for (const auto& [key, value] : git_.Env()) {
      if (key.rfind("GIT_", 0) == 0) env_.env()[key] = value;
    }
    env_.env().erase("LLORCH_MODELS_DIR");  // the checkout's own: .test-models in it
  }

  // llorch-pool in the checkout, as an operator on the host runs it.
  CommandResult Run(const std::vector<std::string>& args) { return RunIn(clone_, args); }
  CommandResult RunIn(const std::string& dir, const std::vector<std::string>& args) {
    std::vector<std::string> argv = {InstalledBinary("llorch-pool")};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = dir;
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
  EXPECT_THAT(Run({"git", "status", "--files"}).out, HasSubstr("modified  README.md"));

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
  EXPECT_THAT(refused.err, HasSubstr("modified  README.md"));
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

// Issue 10.1 as reported: origin gains a tracked notes.txt and a tracked file where the models
// directory is; here notes.txt is untracked and the (ignored) models directory holds a model.
TEST_F(GitE2eTest, SyncAndPullNeverReplaceTheModelsDirectoryEvenWithForce) {
  git_.PushToOrigin("notes.txt", "upstream notes\n", "Add notes");
  git_.PushToOrigin(".test-models", "a file\n", "Add a file where the models are");
  git_.WriteFile(clone_, "notes.txt", "my notes\n");
  git_.WriteFile(clone_, ".test-models/tinyllama/model.gguf", "GGUF\n");
  const std::string head = Head();
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"git", "sync"}, {"git", "sync", "--force"}, {"git", "pull"}}) {
    CommandResult refused = Run(args);
    EXPECT_EQ(refused.exit_code, 1) << args.back() << "\n" << refused.err;
    EXPECT_THAT(refused.err, HasSubstr("origin/main has a file at .test-models, where the models "
                                       "directory is (" +
                                       clone_ + "/.test-models)"));
    EXPECT_THAT(refused.err, HasSubstr("nothing was changed"));
    EXPECT_EQ(testing::ReadFileBytes(clone_ + "/.test-models/tinyllama/model.gguf"), "GGUF\n");
    EXPECT_EQ(testing::ReadFileBytes(clone_ + "/notes.txt"), "my notes\n");
    EXPECT_EQ(Head(), head);
  }
}

TEST_F(GitE2eTest, SyncListsUntrackedFilesItWouldReplaceAndAsksFirst) {
  const std::string tip = git_.PushToOrigin("notes.txt", "upstream notes\n", "Add notes");
  git_.WriteFile(clone_, "notes.txt", "my notes\n");
  git_.WriteFile(clone_, "keep-me.txt", "not in the way\n");
  CommandResult refused = Run({"git", "sync"});
  EXPECT_EQ(refused.exit_code, 2) << refused.err;
  EXPECT_THAT(ListedUnder(refused.err, "Untracked paths origin/main would replace:"),
              ElementsAre("notes.txt"));
  EXPECT_THAT(refused.err, HasSubstr("refusing to discard local work and reset to origin/main "
                                     "without confirmation"));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/notes.txt"), "my notes\n");

  CommandResult synced = Run({"git", "sync", "--force"});
  ASSERT_EQ(synced.exit_code, 0) << synced.err;
  EXPECT_THAT(ListedUnder(synced.out, "Untracked paths origin/main replaced:"),
              ElementsAre("notes.txt"));
  EXPECT_EQ(Head(), tip);
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/notes.txt"), "upstream notes\n");
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/keep-me.txt"), "not in the way\n");
}

TEST_F(GitE2eTest, PullNeverOverwritesIgnoredFiles) {
  git_.PushToOrigin("target/release/notes.txt", "upstream\n", "Track a file under target/");
  git_.WriteFile(clone_, "target/release/notes.txt", "mine, ignored\n");
  const std::string head = Head();
  CommandResult refused = Run({"git", "pull"});
  EXPECT_EQ(refused.exit_code, 1) << refused.err;
  EXPECT_THAT(refused.err, HasSubstr("untracked or ignored paths are in the way of origin/main: "
                                     "target/release/notes.txt"));
  EXPECT_THAT(refused.err, HasSubstr("nothing was changed"));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/target/release/notes.txt"), "mine, ignored\n");
  EXPECT_EQ(Head(), head);
}

// Issue 10.2a: the checkout reached through a symlink, the models directory configured through
// it (the repository root is resolved, the configured directory is not).
TEST_F(GitE2eTest, CleanKeepsTheModelsWhenTheCheckoutIsReachedThroughASymlink) {
  const std::string link = git_.root() + "/link-to-checkout";
  std::filesystem::create_directory_symlink(clone_, link);
  env_.env()["LLORCH_MODELS_DIR"] = link + "/models";
  git_.WriteFile(clone_, "junk.txt", "junk\n");
  git_.WriteFile(clone_, "models/tinyllama/model.gguf", "GGUF\n");
  CommandResult preview = RunIn(link, {"git", "clean", "--dry-run"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_THAT(ListedUnder(preview.out, "Would remove:"), ElementsAre("junk.txt"));
  CommandResult cleaned = RunIn(link, {"git", "clean", "--force"});
  ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
  EXPECT_THAT(ListedUnder(cleaned.out, "Removed:"), ElementsAre("junk.txt"));
  EXPECT_FALSE(std::filesystem::exists(clone_ + "/junk.txt"));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/models/tinyllama/model.gguf"), "GGUF\n");
}

// Issue 10.2b: names that are glob patterns or escapes to git are taken literally.
TEST_F(GitE2eTest, CleanTakesTheModelsAndStateDirectoriesLiterally) {
  env_.env()["LLORCH_MODELS_DIR"] = clone_ + "/models[1]";
  env_.env()["LLORCH_STATE_DIR"] = clone_ + "/a\\b";
  git_.WriteFile(clone_, "models[1]/tinyllama/model.gguf", "GGUF\n");
  git_.WriteFile(clone_, "models1/junk.txt", "junk\n");  // what the glob models[1] matches
  git_.WriteFile(clone_, "a\\b/workers/w1.json", "{}\n");
  git_.WriteFile(clone_, "ab/junk.txt", "junk\n");  // what the pattern a\b matches
  CommandResult preview = Run({"git", "clean", "--dry-run"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  EXPECT_THAT(ListedUnder(preview.out, "Would remove:"), ElementsAre("ab/", "models1/"));
  CommandResult cleaned = Run({"git", "clean", "--force"});
  ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
  EXPECT_THAT(ListedUnder(cleaned.out, "Removed:"), ElementsAre("ab/", "models1/"));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/models[1]/tinyllama/model.gguf"), "GGUF\n");
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/a\\b/workers/w1.json"), "{}\n");
  EXPECT_FALSE(std::filesystem::exists(clone_ + "/models1"));
  EXPECT_FALSE(std::filesystem::exists(clone_ + "/ab"));
}

// Issue 10.2: the dry run lists exactly what the real run removes, non-ASCII names included.
TEST_F(GitE2eTest, CleanDryRunListsWhatTheRealRunRemoves) {
  env_.env()["LLORCH_MODELS_DIR"] = clone_ + "/modèles";
  git_.WriteFile(clone_, "modèles/tinyllama/model.gguf", "GGUF\n");
  git_.WriteFile(clone_, "café.txt", "junk\n");
  git_.WriteFile(clone_, "build \"x\"/a.o", "obj\n");
  CommandResult preview = Run({"git", "clean", "--dry-run"});
  ASSERT_EQ(preview.exit_code, 0) << preview.err;
  const std::vector<std::string> listed = ListedUnder(preview.out, "Would remove:");
  EXPECT_THAT(listed, ElementsAre("build \"x\"/", "café.txt"));
  CommandResult cleaned = Run({"git", "clean", "--force"});
  ASSERT_EQ(cleaned.exit_code, 0) << cleaned.err;
  EXPECT_EQ(ListedUnder(cleaned.out, "Removed:"), listed);
  EXPECT_FALSE(std::filesystem::exists(clone_ + "/café.txt"));
  EXPECT_FALSE(std::filesystem::exists(clone_ + "/build \"x\""));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/modèles/tinyllama/model.gguf"), "GGUF\n");
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
