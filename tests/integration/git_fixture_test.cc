// tests/support/git_fixture.h builds what its header promises, checked with the git CLI: the
// remotes' branches, the clones' tracking and submodules, the ghost entry, the pushes, the broken
// origin, and the environment.
#include "tests/support/git_fixture.h"

#include <gmock/gmock.h>
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "tests/support/run_command.h"

namespace llorch {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

constexpr char kSha[] = "[0-9a-f]{40}";

class GitFixtureTest : public ::testing::Test {
 protected:
  testing::GitFixture git_;
};

TEST_F(GitFixtureTest, CloneHasMainTrackingOriginAndTheLayout) {
  const std::string clone = git_.Clone("host");
  EXPECT_EQ(clone, git_.root() + "/host");
  EXPECT_EQ(git_.Git(clone, {"symbolic-ref", "--short", "HEAD"}), "main");
  EXPECT_EQ(git_.Git(clone, {"rev-parse", "--abbrev-ref", "main@{upstream}"}), "origin/main");
  EXPECT_EQ(git_.Git(clone, {"rev-list", "--count", "HEAD"}), "3");
  EXPECT_EQ(git_.Git(clone, {"ls-files"}),
            ".gitignore\n.gitmodules\nREADME.md\nreference/alpha\nreference/beta\nsrc/main.rs");
  EXPECT_EQ(git_.Git(clone, {"check-ignore", ".test-models/m.gguf", "target/debug"}),
            ".test-models/m.gguf\ntarget/debug");
  EXPECT_EQ(git_.Git(clone, {"status", "--porcelain"}), "");
  EXPECT_EQ(git_.Git(clone, {"log", "-1", "--format=%an <%ae>|%cn <%ce>"}),
            "Llorch Test <test@llorch.invalid>|Llorch Test <test@llorch.invalid>");
}

TEST_F(GitFixtureTest, CloneChecksOutSubmodulesAtTheRecordedCommits) {
  const std::string clone = git_.Clone("host");
  const std::string alpha = git_.RecordedSubmoduleCommit("alpha");
  const std::string beta = git_.RecordedSubmoduleCommit("beta");
  EXPECT_THAT(alpha, MatchesRegex(kSha));
  EXPECT_THAT(beta, MatchesRegex(kSha));
  // A leading space: initialized and at the recorded commit.
  EXPECT_THAT(git_.Git(clone, {"submodule", "status"}),
              MatchesRegex(" " + alpha + " reference/alpha \\(.*\\)\n " + beta +
                           " reference/beta \\(.*\\)"));
  EXPECT_EQ(git_.Git(clone + "/reference/alpha", {"rev-parse", "HEAD"}), alpha);
  EXPECT_NE(git_.TryGit(clone + "/reference/alpha", {"symbolic-ref", "-q", "HEAD"}).exit_code, 0)
      << "alpha is not detached";
  EXPECT_EQ(git_.Git(git_.root() + "/remotes/alpha.git", {"rev-parse", "main"}), alpha);
  EXPECT_EQ(git_.Git(git_.root() + "/remotes/beta.git", {"rev-parse", "main"}), beta);
  EXPECT_EQ(git_.Git(clone, {"config", "-f", ".gitmodules", "submodule.reference/alpha.url"}),
            git_.Url("alpha"));
  EXPECT_EQ(git_.Git(clone, {"config", "-f", ".gitmodules", "submodule.reference/beta.branch"}),
            "main");
  EXPECT_EQ(git_.TryGit(clone, {"config", "-f", ".gitmodules", "submodule.reference/alpha.branch"})
                .exit_code,
            1)
      << "alpha names no branch";
}

TEST_F(GitFixtureTest, GhostIsDeclaredWithoutGitlink) {
  const std::string clone = git_.Clone("host");
  EXPECT_EQ(git_.Git(clone, {"config", "-f", ".gitmodules", "submodule.reference/ghost.path"}),
            "reference/ghost");
  EXPECT_EQ(git_.Git(clone, {"config", "-f", ".gitmodules", "submodule.reference/ghost.url"}),
            "file:///nonexistent/ghost.git");
  EXPECT_EQ(git_.Git(clone, {"ls-files", "-s", "reference/ghost"}), "");
  EXPECT_FALSE(std::filesystem::exists(clone + "/reference/ghost"));
}

TEST_F(GitFixtureTest, CloneWithoutSubmodulesLeavesThemUninitialized) {
  const std::string clone = git_.Clone("bare-host", /*init_submodules=*/false);
  EXPECT_EQ(git_.Git(clone, {"rev-parse", "--abbrev-ref", "main@{upstream}"}), "origin/main");
  EXPECT_EQ(git_.Git(clone, {"submodule", "status"}),
            "-" + git_.RecordedSubmoduleCommit("alpha") + " reference/alpha\n-" +
                git_.RecordedSubmoduleCommit("beta") + " reference/beta");
  EXPECT_TRUE(std::filesystem::is_empty(clone + "/reference/alpha"));
}

TEST_F(GitFixtureTest, AlphaHasTheMetalBranchOneAheadOfMain) {
  const std::string alpha = git_.root() + "/remotes/alpha.git";
  EXPECT_EQ(git_.Git(alpha, {"for-each-ref", "--format=%(refname)", "refs/heads"}),
            "refs/heads/llorch/metal-bugfixes\nrefs/heads/main");
  EXPECT_EQ(git_.Git(alpha, {"symbolic-ref", "HEAD"}), "refs/heads/main");
  EXPECT_EQ(git_.Git(alpha, {"rev-list", "--count", "main"}), "2");
  EXPECT_EQ(git_.Git(alpha, {"rev-list", "--count", "main..llorch/metal-bugfixes"}), "1");
  EXPECT_EQ(git_.Git(alpha, {"rev-list", "--count", "llorch/metal-bugfixes..main"}), "0");
  const std::string beta = git_.root() + "/remotes/beta.git";
  EXPECT_EQ(git_.Git(beta, {"for-each-ref", "--format=%(refname)", "refs/heads"}),
            "refs/heads/main");
  EXPECT_EQ(git_.Git(beta, {"rev-list", "--count", "main"}), "2");
}

TEST_F(GitFixtureTest, PushToOriginPutsExistingClonesBehindByOne) {
  const std::string clone = git_.Clone("host");
  const std::string before = git_.Git(clone, {"rev-parse", "HEAD"});
  const std::string pushed = git_.PushToOrigin("docs/new.md", "new\n", "Add docs");
  EXPECT_THAT(pushed, MatchesRegex(kSha));
  git_.Git(clone, {"fetch", "-q"});
  EXPECT_EQ(git_.Git(clone, {"rev-parse", "origin/main"}), pushed);
  EXPECT_EQ(git_.Git(clone, {"rev-list", "--left-right", "--count", "HEAD...origin/main"}), "0\t1");
  EXPECT_EQ(git_.Git(clone, {"rev-parse", "HEAD"}), before);
  EXPECT_EQ(git_.Git(clone, {"show", "origin/main:docs/new.md"}), "new");
  EXPECT_EQ(git_.Git(clone, {"log", "-1", "--format=%s", "origin/main"}), "Add docs");
}

TEST_F(GitFixtureTest, PushToSubmoduleMovesTheRecordedCommitOnlyWithRecord) {
  const std::string alpha_before = git_.RecordedSubmoduleCommit("alpha");
  const std::string alpha = git_.PushToSubmodule("alpha", "main", /*record=*/true);
  EXPECT_THAT(alpha, MatchesRegex(kSha));
  EXPECT_NE(alpha, alpha_before);
  EXPECT_EQ(git_.RecordedSubmoduleCommit("alpha"), alpha);
  EXPECT_EQ(git_.Git(git_.root() + "/remotes/alpha.git", {"rev-parse", "main"}), alpha);
  EXPECT_EQ(git_.Git(git_.root() + "/remotes/alpha.git", {"rev-parse", "main~1"}), alpha_before);

  const std::string beta_before = git_.RecordedSubmoduleCommit("beta");
  const std::string beta = git_.PushToSubmodule("beta", "main", /*record=*/false);
  EXPECT_EQ(git_.RecordedSubmoduleCommit("beta"), beta_before);
  EXPECT_EQ(git_.Git(git_.root() + "/remotes/beta.git", {"rev-parse", "main"}), beta);

  const std::string metal = git_.PushToSubmodule("alpha", "llorch/metal-bugfixes", false);
  EXPECT_EQ(git_.Git(git_.root() + "/remotes/alpha.git",
                     {"rev-list", "--count", "main..llorch/metal-bugfixes"}),
            "2");
  EXPECT_EQ(git_.Git(git_.root() + "/remotes/alpha.git", {"rev-parse", "llorch/metal-bugfixes"}),
            metal);
  EXPECT_EQ(git_.RecordedSubmoduleCommit("alpha"), alpha);
}

TEST_F(GitFixtureTest, RecordedPushReachesClonesOnUpdate) {
  const std::string clone = git_.Clone("host");
  const std::string alpha = git_.PushToSubmodule("alpha", "main", /*record=*/true);
  git_.Git(clone, {"pull", "-q", "--ff-only"});
  EXPECT_THAT(git_.Git(clone, {"submodule", "status", "reference/alpha"}), StartsWith("+"));
  git_.Git(clone, {"submodule", "--quiet", "update", "--init", "--recursive"});
  EXPECT_EQ(git_.Git(clone + "/reference/alpha", {"rev-parse", "HEAD"}), alpha);
}

TEST_F(GitFixtureTest, BreakOriginFailsFetchesUntilRestored) {
  const std::string clone = git_.Clone("host");
  git_.BreakOrigin();
  testing::CommandResult fetch = git_.TryGit(clone, {"fetch"});
  EXPECT_NE(fetch.exit_code, 0);
  EXPECT_THAT(fetch.err, HasSubstr("does not appear to be a git repository"));
  git_.RestoreOrigin();
  fetch = git_.TryGit(clone, {"fetch"});
  EXPECT_EQ(fetch.exit_code, 0) << fetch.err;
}

TEST_F(GitFixtureTest, GitReportsAFailingCommandAsATestFailure) {
  std::string out;
  EXPECT_NONFATAL_FAILURE(out = git_.Git(git_.root(), {"rev-parse", "--verify", "no-such-ref"}),
                          "rev-parse --verify no-such-ref exited with 128:\nfatal: ");
  EXPECT_EQ(out, "");
}

TEST_F(GitFixtureTest, EnvIsolatesGitFromTheCallersConfiguration) {
  setenv("GIT_DIR", "/elsewhere/.git", 1);
  setenv("GIT_CONFIG_COUNT", "1", 1);
  setenv("GIT_CONFIG_KEY_0", "user.name", 1);
  setenv("GIT_CONFIG_VALUE_0", "Someone Else", 1);
  const std::map<std::string, std::string> env = git_.Env();
  for (const char* name : {"GIT_DIR", "GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_0"}) {
    EXPECT_FALSE(env.contains(name)) << name;
  }
  EXPECT_EQ(env.at("GIT_CONFIG_GLOBAL"), git_.root() + "/home/.gitconfig");
  EXPECT_EQ(env.at("GIT_CONFIG_NOSYSTEM"), "1");
  EXPECT_EQ(env.at("HOME"), git_.root() + "/home");
  EXPECT_EQ(env.at("GIT_TERMINAL_PROMPT"), "0");
  EXPECT_EQ(env.at("LC_ALL"), "C");
  EXPECT_EQ(env.at("PATH"), std::getenv("PATH"));
  EXPECT_EQ(git_.Git(git_.root(), {"config", "user.name"}), "Llorch Test");

  // In-process git (no env given) sees the same configuration once exported.
  git_.ExportEnv();
  EXPECT_EQ(std::getenv("GIT_DIR"), nullptr);
  EXPECT_EQ(std::getenv("GIT_CONFIG_VALUE_0"), nullptr);
  testing::CommandOptions outside_any_repo;
  outside_any_repo.working_dir = git_.root();
  testing::CommandResult name =
      testing::RunCommand({"git", "config", "user.name"}, outside_any_repo);
  EXPECT_EQ(name.out, "Llorch Test\n") << name.err;
  EXPECT_EQ(git_.Env(), testing::CurrentEnvironment());
}

}  // namespace
}  // namespace llorch
