// GitRepo on real repositories (tests/support/git_fixture.h: a bare origin and two submodule
// repositories on file:// remotes), in each state a checkout can be in: clean, dirty, ahead,
// behind, diverged, detached, a submodule on a branch, a submodule not initialized, the remote
// unreachable. What the commands report, what they leave on disk, and that nothing a caller
// sends reaches git as an option.
#include "agent/git/git_repo.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "common/status.h"
#include "tests/support/git_fixture.h"
#include "tests/support/operation_events.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class GitRepoTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_.ExportEnv();
    clone_ = git_.Clone("checkout");
  }

  GitRepo Repo(const std::string& root) const {
    return Repo(root, fs::path(root) / ".test-models", fs::path(root) / "state");
  }
  GitRepo Repo() const { return Repo(clone_); }
  GitRepo Repo(const std::string& root, const fs::path& models, const fs::path& state) const {
    GitRepoOptions options;
    options.root = root;
    options.protected_dirs = {{"the models directory", models},
                              {"the agent's state directory", state}};
    return GitRepo(options);
  }

  std::string Head(const std::string& dir) const { return git_.Git(dir, {"rev-parse", "HEAD"}); }

  const v1::Submodule& Named(const v1::GitStatus& status, const std::string& name) {
    for (const v1::Submodule& submodule : status.submodules()) {
      if (submodule.name() == name) return submodule;
    }
    ADD_FAILURE() << "no submodule " << name;
    return status.submodules(0);
  }

  testing::GitFixture git_;
  std::string clone_;
  Operation op_{"op-1", "git.pull", ""};
};

TEST_F(GitRepoTest, StatusOfACleanCloneShowsBranchHeadUpstreamAndEverySubmodule) {
  absl::StatusOr<v1::GitStatus> status = Repo().Status(false);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->repo_root(), clone_);
  EXPECT_EQ(status->branch(), "main");
  EXPECT_FALSE(status->detached());
  EXPECT_EQ(status->head().sha(), Head(clone_));
  EXPECT_EQ(status->head().short_sha(), Head(clone_).substr(0, 12));
  EXPECT_EQ(status->head().subject(), git_.Git(clone_, {"log", "-1", "--format=%s"}));
  EXPECT_EQ(status->upstream(), "origin/main");
  EXPECT_EQ(status->ahead(), 0u);
  EXPECT_EQ(status->behind(), 0u);
  EXPECT_EQ(status->staged_count() + status->unstaged_count() + status->untracked_count(), 0u);
  ASSERT_EQ(status->submodules_size(), 3);
  const v1::Submodule& alpha = Named(*status, "reference/alpha");
  EXPECT_EQ(alpha.path(), "reference/alpha");
  EXPECT_EQ(alpha.url(), git_.Url("alpha"));
  EXPECT_TRUE(alpha.initialized());
  EXPECT_TRUE(alpha.detached());
  EXPECT_EQ(alpha.recorded_sha(), git_.RecordedSubmoduleCommit("alpha"));
  EXPECT_EQ(alpha.checked_out_sha(), alpha.recorded_sha());
  EXPECT_FALSE(alpha.dirty());
  EXPECT_FALSE(alpha.out_of_sync());
  EXPECT_EQ(Named(*status, "reference/beta").configured_branch(), "main");
  const v1::Submodule& ghost = Named(*status, "reference/ghost");
  EXPECT_TRUE(ghost.missing());
  EXPECT_FALSE(ghost.initialized());
}

TEST_F(GitRepoTest, StatusCountsChangesAndListsThemOnRequest) {
  git_.WriteFile(clone_, "README.md", "changed\n");
  git_.WriteFile(clone_, "staged.txt", "new\n");
  git_.Git(clone_, {"add", "staged.txt"});
  git_.WriteFile(clone_, "notes.txt", "untracked\n");
  git_.WriteFile(clone_, "reference/alpha/scratch.txt", "in a submodule\n");
  absl::StatusOr<v1::GitStatus> status = Repo().Status(true);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->staged_count(), 1u);
  EXPECT_EQ(status->unstaged_count(), 1u);  // README.md; the submodule's row says it is dirty
  EXPECT_EQ(status->untracked_count(), 1u);
  std::vector<std::string> files;
  for (const v1::ChangedFile& file : status->files())
    files.push_back(file.status() + " " + file.path());
  EXPECT_THAT(files, Contains(".M README.md"));
  EXPECT_THAT(files, Contains("A. staged.txt"));
  EXPECT_THAT(files, Contains("?? notes.txt"));
  EXPECT_TRUE(Named(*status, "reference/alpha").dirty());
  EXPECT_TRUE(Repo().Status(false)->files().empty());
}

TEST_F(GitRepoTest, StatusSaysAheadBehindDivergedAndDetached) {
  git_.Commit(clone_, "local.txt", "mine\n", "A local commit");
  EXPECT_EQ(Repo().Status(false)->ahead(), 1u);
  git_.PushToOrigin("upstream.txt", "theirs\n", "An upstream commit");
  git_.Git(clone_, {"fetch", "origin"});
  absl::StatusOr<v1::GitStatus> diverged = Repo().Status(false);
  EXPECT_EQ(diverged->ahead(), 1u);
  EXPECT_EQ(diverged->behind(), 1u);
  git_.Git(clone_, {"checkout", "--detach", "HEAD~1"});
  absl::StatusOr<v1::GitStatus> detached = Repo().Status(false);
  EXPECT_TRUE(detached->detached());
  EXPECT_EQ(detached->branch(), "");
  EXPECT_EQ(detached->upstream(), "");
}

TEST_F(GitRepoTest, StatusOfAnUninitializedSubmoduleAndAMissingToolchain) {
  const std::string bare = git_.Clone("bare-clone", /*init_submodules=*/false);
  GitRepoOptions options;
  options.root = bare;
  options.rustc = "rustc-is-not-installed-here";
  options.cargo = "cargo-is-not-installed-here";
  absl::StatusOr<v1::GitStatus> status = GitRepo(options).Status(false);
  ASSERT_TRUE(status.ok()) << status.status();
  const v1::Submodule& alpha = Named(*status, "reference/alpha");
  EXPECT_FALSE(alpha.initialized());
  EXPECT_EQ(alpha.checked_out_sha(), "");
  EXPECT_EQ(alpha.recorded_sha(), git_.RecordedSubmoduleCommit("alpha"));
  EXPECT_EQ(status->rust().rustc(), "");
  EXPECT_EQ(status->rust().cargo(), "");
}

TEST_F(GitRepoTest, PullBringsTheCommitsAndMovesTheSubmodulesAlong) {
  const std::string old_head = Head(clone_);
  git_.PushToOrigin("upstream.txt", "theirs\n", "An upstream commit");
  const std::string alpha_tip = git_.PushToSubmodule("alpha", "main", /*record=*/true);
  absl::StatusOr<v1::GitPullResult> pulled = Repo().Pull(v1::PULL_MODE_UNSPECIFIED, op_);
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_EQ(pulled->old_sha(), old_head);
  EXPECT_EQ(pulled->new_sha(), Head(clone_));
  ASSERT_EQ(pulled->commits_size(), 2);
  EXPECT_EQ(pulled->commits(0).subject(), "An upstream commit");
  EXPECT_EQ(pulled->files_changed(), 2u);  // upstream.txt and the gitlink
  ASSERT_EQ(pulled->submodules_moved_size(), 1);
  EXPECT_EQ(pulled->submodules_moved(0).name(), "reference/alpha");
  EXPECT_EQ(pulled->submodules_moved(0).new_sha(), alpha_tip);
  EXPECT_EQ(Head(clone_ + "/reference/alpha"), alpha_tip);
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_AGENT),
              Contains("git rebase " + pulled->new_sha()));
  // git's own progress ("Receiving objects: 100% (3/3)") became operation progress.
  std::vector<v1::Progress> fetch = testing::ProgressOf(op_, "fetch");
  ASSERT_FALSE(fetch.empty());
  EXPECT_EQ(fetch.back().unit(), v1::PROGRESS_UNIT_ITEMS);
  EXPECT_EQ(fetch.back().done(), fetch.back().total());
  EXPECT_FALSE(fetch.back().current_item().empty());

  absl::StatusOr<v1::GitPullResult> again = Repo().Pull(v1::PULL_MODE_FF_ONLY, op_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->old_sha(), again->new_sha());
  EXPECT_TRUE(again->commits().empty());
}

TEST_F(GitRepoTest, PullRefusesLocalChangesADetachedHeadAndSaysWhy) {
  git_.PushToOrigin("upstream.txt", "theirs\n", "An upstream commit");
  git_.WriteFile(clone_, "README.md", "my edit\n");
  const std::string head = Head(clone_);
  absl::StatusOr<v1::GitPullResult> blocked = Repo().Pull(v1::PULL_MODE_REBASE, op_);
  ASSERT_EQ(blocked.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(blocked.status().message(),
              AllOf(HasSubstr("local changes would block the pull"), HasSubstr("README.md"),
                    HasSubstr("nothing was changed")));
  EXPECT_EQ(GetReason(blocked.status()), "LOCAL_CHANGES");
  EXPECT_EQ(Head(clone_), head);
  EXPECT_EQ(git_.Git(clone_, {"diff", "--name-only"}), "README.md");  // the edit is still there

  git_.Git(clone_, {"checkout", "README.md"});
  git_.Git(clone_, {"checkout", "--detach"});
  absl::StatusOr<v1::GitPullResult> detached = Repo().Pull(v1::PULL_MODE_REBASE, op_);
  EXPECT_EQ(GetReason(detached.status()), "DETACHED_HEAD");
  EXPECT_THAT(detached.status().message(), HasSubstr("HEAD is detached at " + head.substr(0, 12)));
}

TEST_F(GitRepoTest, FastForwardOnlyOnDivergedBranchesSaysSo) {
  git_.Commit(clone_, "local.txt", "mine\n", "A local commit");
  git_.PushToOrigin("upstream.txt", "theirs\n", "An upstream commit");
  const std::string head = Head(clone_);
  absl::StatusOr<v1::GitPullResult> pulled = Repo().Pull(v1::PULL_MODE_FF_ONLY, op_);
  ASSERT_EQ(pulled.status().code(), absl::StatusCode::kFailedPrecondition) << pulled.status();
  EXPECT_EQ(GetReason(pulled.status()), "DIVERGED");
  EXPECT_THAT(pulled.status().message(), HasSubstr("main and origin/main have diverged"));
  EXPECT_EQ(Head(clone_), head);
  // Rebase joins them.
  absl::StatusOr<v1::GitPullResult> rebased = Repo().Pull(v1::PULL_MODE_REBASE, op_);
  ASSERT_TRUE(rebased.ok()) << rebased.status();
  EXPECT_EQ(git_.Git(clone_, {"log", "-1", "--format=%s"}), "A local commit");
}

TEST_F(GitRepoTest, APullThatConflictsIsRolledBackAndNamesTheFiles) {
  git_.Commit(clone_, "README.md", "mine\n", "My README");
  git_.PushToOrigin("README.md", "theirs\n", "Their README");
  const std::string head = Head(clone_);
  absl::StatusOr<v1::GitPullResult> pulled = Repo().Pull(v1::PULL_MODE_REBASE, op_);
  ASSERT_EQ(pulled.status().code(), absl::StatusCode::kAborted) << pulled.status();
  EXPECT_EQ(GetReason(pulled.status()), "CONFLICT");
  EXPECT_THAT(pulled.status().message(),
              AllOf(HasSubstr("conflicts in README.md"),
                    HasSubstr("the checkout is back at " + head.substr(0, 12))));
  EXPECT_THAT(GetHint(pulled.status()).value_or(""), HasSubstr("llorch-pool git sync"));
  EXPECT_EQ(Head(clone_), head);
  EXPECT_EQ(git_.Git(clone_, {"status", "--porcelain"}), "");  // no rebase left in progress
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/README.md"), "mine\n");
}

TEST_F(GitRepoTest, AnUnreachableRemoteChangesNothing) {
  git_.BreakOrigin();
  const std::string head = Head(clone_);
  absl::StatusOr<v1::GitPullResult> pulled = Repo().Pull(v1::PULL_MODE_REBASE, op_);
  ASSERT_EQ(pulled.status().code(), absl::StatusCode::kUnavailable) << pulled.status();
  EXPECT_EQ(GetReason(pulled.status()), "REMOTE_UNREACHABLE");
  EXPECT_THAT(pulled.status().message(),
              AllOf(HasSubstr("origin/main cannot be reached"), HasSubstr("nothing was changed")));
  EXPECT_EQ(Head(clone_), head);
  Operation sync_op("op-2", "git.sync", "");
  absl::StatusOr<v1::GitSyncResult> synced = Repo().Sync("", /*preview=*/true, sync_op);
  EXPECT_EQ(GetReason(synced.status()), "REMOTE_UNREACHABLE");
}

TEST_F(GitRepoTest, SyncShowsWhatItWouldDiscardThenResetsToOrigin) {
  const std::string local = git_.Commit(clone_, "local.txt", "mine\n", "A local commit");
  git_.WriteFile(clone_, "README.md", "my edit\n");
  git_.WriteFile(clone_, "keep-me.txt", "untracked work\n");
  const std::string tip = git_.PushToOrigin("upstream.txt", "theirs\n", "An upstream commit");
  Operation preview_op("op-2", "git.sync", "");
  absl::StatusOr<v1::GitSyncResult> preview = Repo().Sync("", /*preview=*/true, preview_op);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_TRUE(preview->preview());
  ASSERT_EQ(preview->discarded_changes_size(), 1);
  EXPECT_EQ(preview->discarded_changes(0).path(), "README.md");
  ASSERT_EQ(preview->discarded_commits_size(), 1);
  EXPECT_EQ(preview->discarded_commits(0).sha(), local);
  EXPECT_EQ(preview->new_sha(), tip);
  EXPECT_EQ(preview->upstream(), "origin/main");
  EXPECT_EQ(Head(clone_), local);  // the preview changed nothing
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/README.md"), "my edit\n");

  Operation sync_op("op-3", "git.sync", "");
  absl::StatusOr<v1::GitSyncResult> synced = Repo().Sync("main", /*preview=*/false, sync_op);
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_FALSE(synced->preview());
  EXPECT_EQ(Head(clone_), tip);
  EXPECT_EQ(git_.Git(clone_, {"status", "--porcelain", "--untracked-files=no"}), "");
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/keep-me.txt"), "untracked work\n");
  EXPECT_EQ(synced->discarded_commits_size(), 1);
}

TEST_F(GitRepoTest, SyncPutsSubmodulesAtTheRecordedCommitsEvenOnABranch) {
  const std::string alpha = clone_ + "/reference/alpha";
  git_.Git(alpha, {"checkout", "-b", "experiment"});
  git_.Commit(alpha, "x.txt", "x\n", "Experiment");
  Operation sync_op("op-2", "git.sync", "");
  absl::StatusOr<v1::GitSyncResult> synced = Repo().Sync("", /*preview=*/false, sync_op);
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(Head(alpha), git_.RecordedSubmoduleCommit("alpha"));
  ASSERT_EQ(synced->submodules_moved_size(), 1);
  EXPECT_EQ(synced->submodules_moved(0).name(), "reference/alpha");
}

TEST_F(GitRepoTest, UpdateKeepsASubmoduleOnABranchUnlessForced) {
  const std::string alpha = clone_ + "/reference/alpha";
  git_.Git(alpha, {"checkout", "-b", "llorch/metal-bugfixes", "origin/llorch/metal-bugfixes"});
  const std::string branch_head = Head(alpha);
  git_.PushToSubmodule("beta", "main", /*record=*/false);
  Operation update_op("op-2", "git.submodules.update", "");
  absl::StatusOr<v1::SubmoduleUpdateResult> kept =
      Repo().UpdateSubmodules({}, /*remote=*/true, /*force=*/false, update_op);
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_THAT(kept->kept_on_branch(), ElementsAre("reference/alpha"));
  EXPECT_EQ(Head(alpha), branch_head);  // the bash script detached it here
  EXPECT_EQ(git_.Git(alpha, {"branch", "--show-current"}), "llorch/metal-bugfixes");
  ASSERT_EQ(kept->moved_size(), 1);  // beta followed its remote branch
  EXPECT_EQ(kept->moved(0).name(), "reference/beta");
  EXPECT_THAT(
      testing::LogTexts(update_op, v1::LogLine::STREAM_AGENT),
      Contains(HasSubstr("reference/alpha is on branch llorch/metal-bugfixes: kept there")));

  Operation forced_op("op-3", "git.submodules.update", "");
  absl::StatusOr<v1::SubmoduleUpdateResult> forced =
      Repo().UpdateSubmodules({"reference/alpha"}, /*remote=*/false, /*force=*/true, forced_op);
  ASSERT_TRUE(forced.ok()) << forced.status();
  EXPECT_TRUE(forced->kept_on_branch().empty());
  EXPECT_EQ(Head(alpha), git_.RecordedSubmoduleCommit("alpha"));
}

TEST_F(GitRepoTest, UpdateInitializesSubmodulesThatAreNotYet) {
  const std::string bare = git_.Clone("bare-clone", /*init_submodules=*/false);
  Operation update_op("op-2", "git.submodules.update", "");
  absl::StatusOr<v1::SubmoduleUpdateResult> updated =
      Repo(bare).UpdateSubmodules({"reference/beta"}, false, false, update_op);
  ASSERT_TRUE(updated.ok()) << updated.status();
  ASSERT_EQ(updated->moved_size(), 1);
  EXPECT_EQ(updated->moved(0).old_sha(), "");
  EXPECT_EQ(updated->moved(0).new_sha(), git_.RecordedSubmoduleCommit("beta"));
  EXPECT_FALSE(fs::exists(bare + "/reference/alpha/.git"));  // only the one asked for
  std::vector<v1::Progress> steps = testing::ProgressOf(update_op, "update");
  ASSERT_FALSE(steps.empty());
  EXPECT_EQ(steps.back().done(), 1u);
  EXPECT_EQ(steps.back().total(), 1u);
}

// A submodule URL is the checkout's (its .gitmodules), which whoever pushes upstream writes: an
// ext:: URL would run a command. The agent's git refuses that transport even where the host's
// git configuration allows it.
TEST_F(GitRepoTest, AnExtUrlInGitmodulesRunsNothingEvenWhereTheHostAllowsIt) {
  const std::string bare = git_.Clone("ext-clone", /*init_submodules=*/false);
  const std::string marker = git_.root() + "/ext-ran";
  git_.Git(bare, {"config", "--global", "protocol.ext.allow", "always"});
  git_.Git(bare, {"config", "--file", ".gitmodules", "submodule.reference/beta.url",
                  "ext::sh -c touch% " + marker});
  Operation update_op("op-2", "git.submodules.update", "");
  absl::StatusOr<v1::SubmoduleUpdateResult> updated =
      Repo(bare).UpdateSubmodules({"reference/beta"}, false, false, update_op);
  EXPECT_FALSE(updated.ok());
  EXPECT_THAT(updated.status().message(), HasSubstr("reference/beta"));
  EXPECT_FALSE(fs::exists(marker)) << "the ext:: URL ran its command";
  EXPECT_FALSE(fs::exists(bare + "/reference/beta/.git"));
}

TEST_F(GitRepoTest, ResetReturnsToTheRecordedCommitAndSaysWhatItDiscarded) {
  const std::string alpha = clone_ + "/reference/alpha";
  git_.Git(alpha, {"checkout", "-b", "work"});
  const std::string moved = git_.Commit(alpha, "mine.txt", "mine\n", "Local work");
  git_.WriteFile(alpha, "README.md", "edited\n");
  git_.WriteFile(alpha, "scratch.log", "untracked\n");
  absl::StatusOr<v1::ResetSubmoduleResponse> reset = Repo().ResetSubmodule("reference/alpha");
  ASSERT_TRUE(reset.ok()) << reset.status();
  EXPECT_EQ(reset->previous_sha(), moved);
  EXPECT_EQ(reset->submodule().checked_out_sha(), git_.RecordedSubmoduleCommit("alpha"));
  EXPECT_TRUE(reset->submodule().detached());
  EXPECT_FALSE(reset->submodule().dirty());
  std::vector<std::string> discarded;
  for (const v1::ChangedFile& file : reset->discarded_changes()) discarded.push_back(file.path());
  EXPECT_THAT(discarded, ::testing::UnorderedElementsAre("README.md", "scratch.log"));
  EXPECT_FALSE(fs::exists(alpha + "/scratch.log"));
  EXPECT_EQ(git_.Git(alpha, {"rev-parse", "work"}), moved);  // the branch keeps its commit
}

TEST_F(GitRepoTest, BranchSwitchFetchesAndTracksTheRemoteBranch) {
  const std::string alpha = clone_ + "/reference/alpha";
  absl::StatusOr<v1::Submodule> switched =
      Repo().SwitchSubmoduleBranch("reference/alpha", "llorch/metal-bugfixes");
  ASSERT_TRUE(switched.ok()) << switched.status();
  EXPECT_EQ(switched->branch(), "llorch/metal-bugfixes");
  EXPECT_FALSE(switched->detached());
  EXPECT_TRUE(switched->out_of_sync());
  EXPECT_EQ(git_.Git(alpha, {"rev-parse", "--abbrev-ref", "@{upstream}"}),
            "origin/llorch/metal-bugfixes");

  absl::StatusOr<v1::Submodule> missing = Repo().SwitchSubmoduleBranch("reference/alpha", "nope");
  EXPECT_EQ(GetReason(missing.status()), "BRANCH_NOT_FOUND");
  EXPECT_THAT(missing.status().message(), HasSubstr("has no branch nope"));

  git_.WriteFile(alpha, "README.md", "edited\n");
  absl::StatusOr<v1::Submodule> dirty = Repo().SwitchSubmoduleBranch("reference/alpha", "main");
  EXPECT_EQ(GetReason(dirty.status()), "LOCAL_CHANGES");
  EXPECT_EQ(git_.Git(alpha, {"branch", "--show-current"}), "llorch/metal-bugfixes");

  // Without --branch: the one .gitmodules names (beta: main).
  absl::StatusOr<v1::Submodule> beta = Repo().SwitchSubmoduleBranch("reference/beta", "");
  ASSERT_TRUE(beta.ok()) << beta.status();
  EXPECT_EQ(beta->branch(), "main");
}

TEST_F(GitRepoTest, CleanRemovesUntrackedFilesButNeverTheModelsOrStateDirectories) {
  git_.WriteFile(clone_, "junk.txt", "junk\n");
  git_.WriteFile(clone_, "build-output/a.o", "obj\n");
  git_.WriteFile(clone_, ".test-models/qwen/qwen.gguf", "GGUF precious\n");  // ignored
  git_.WriteFile(clone_, "state/workers/w1.json", "{}\n");                   // untracked
  absl::StatusOr<v1::CleanResponse> preview = Repo().Clean(/*dry_run=*/true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_THAT(preview->removed(), ::testing::UnorderedElementsAre("junk.txt", "build-output/"));
  EXPECT_THAT(preview->kept(), ElementsAre("state/"));
  EXPECT_TRUE(fs::exists(clone_ + "/junk.txt"));

  absl::StatusOr<v1::CleanResponse> cleaned = Repo().Clean(/*dry_run=*/false);
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_THAT(cleaned->removed(), ::testing::UnorderedElementsAre("junk.txt", "build-output/"));
  EXPECT_FALSE(fs::exists(clone_ + "/junk.txt"));
  EXPECT_FALSE(fs::exists(clone_ + "/build-output"));
  EXPECT_TRUE(fs::exists(clone_ + "/.test-models/qwen/qwen.gguf"));
  EXPECT_TRUE(fs::exists(clone_ + "/state/workers/w1.json"));
}

TEST_F(GitRepoTest, CleanGoesAroundAProtectedDirectoryInsideAnUntrackedOne) {
  git_.WriteFile(clone_, "data/models/qwen/qwen.gguf", "GGUF precious\n");
  git_.WriteFile(clone_, "data/junk/a.txt", "junk\n");
  git_.WriteFile(clone_, "data/notes.txt", "junk\n");
  git_.WriteFile(clone_, "data/target/x.o", "ignored\n");  // /target/ is ignored only at the top
  const GitRepo repo = Repo(clone_, clone_ + "/data/models", clone_ + "/state");
  absl::StatusOr<v1::CleanResponse> preview = repo.Clean(/*dry_run=*/true);
  ASSERT_TRUE(preview.ok()) << preview.status();
  EXPECT_THAT(preview->removed(),
              ::testing::UnorderedElementsAre("data/junk/", "data/notes.txt", "data/target/"));
  EXPECT_THAT(preview->kept(), ElementsAre("data/models/"));
  absl::StatusOr<v1::CleanResponse> cleaned = repo.Clean(/*dry_run=*/false);
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_THAT(cleaned->removed(), ::testing::ElementsAreArray(preview->removed()));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/data/models/qwen/qwen.gguf"), "GGUF precious\n");
  EXPECT_FALSE(fs::exists(clone_ + "/data/junk"));
  EXPECT_FALSE(fs::exists(clone_ + "/data/notes.txt"));
}

TEST_F(GitRepoTest, CleanKeepsASymlinkThatStandsForTheModelsDirectory) {
  const std::string store = git_.root() + "/model-store";
  git_.WriteFile(store, "qwen/qwen.gguf", "GGUF precious\n");
  fs::create_directory_symlink(store,
                               clone_ + "/.test-models");  // "/.test-models/" ignores dirs only
  git_.WriteFile(clone_, "junk.txt", "junk\n");
  absl::StatusOr<v1::CleanResponse> cleaned = Repo().Clean(/*dry_run=*/false);
  ASSERT_TRUE(cleaned.ok()) << cleaned.status();
  EXPECT_THAT(cleaned->removed(), ElementsAre("junk.txt"));
  EXPECT_THAT(cleaned->kept(), ElementsAre(".test-models"));
  EXPECT_TRUE(fs::is_symlink(clone_ + "/.test-models"));
  EXPECT_EQ(testing::ReadFileBytes(store + "/qwen/qwen.gguf"), "GGUF precious\n");
}

TEST_F(GitRepoTest, NothingIsCleanedWhenTheModelsDirectoryHoldsTheCheckout) {
  git_.WriteFile(clone_, "tinyllama/model.gguf", "GGUF\n");
  for (const std::string& models : {clone_, git_.root()}) {
    const GitRepo repo = Repo(clone_, models, clone_ + "/state");
    for (bool dry_run : {true, false}) {
      absl::StatusOr<v1::CleanResponse> cleaned = repo.Clean(dry_run);
      EXPECT_EQ(GetReason(cleaned.status()), "PROTECTED_PATH") << models;
      EXPECT_THAT(cleaned.status().message(), HasSubstr("lies in the models directory"));
    }
  }
  EXPECT_TRUE(fs::exists(clone_ + "/tinyllama/model.gguf"));
}

TEST_F(GitRepoTest, SyncListsEveryUntrackedOrIgnoredPathInTheWay) {
  git_.PushToOrigin("build", "now a file\n", "A file where a build directory was");
  git_.PushToOrigin("docs/guide.md", "guide\n", "A directory where a file was");
  const std::string tip = git_.PushToOrigin("target/debug/out.txt", "tracked\n", "Track an output");
  git_.WriteFile(clone_, "build/a.o", "untracked directory\n");
  git_.WriteFile(clone_, "docs", "untracked file\n");
  git_.WriteFile(clone_, "target/debug/out.txt", "ignored\n");
  git_.WriteFile(clone_, "target/debug/keep.txt", "ignored, not in the way\n");
  Operation preview_op("op-2", "git.sync", "");
  absl::StatusOr<v1::GitSyncResult> preview = Repo().Sync("", /*preview=*/true, preview_op);
  ASSERT_TRUE(preview.ok()) << preview.status();
  std::vector<std::string> listed;
  for (const v1::PathInTheWay& path : preview->untracked_replaced()) {
    listed.push_back(path.path() + " <- " + path.upstream_path());
  }
  EXPECT_THAT(listed, ElementsAre("build/ <- build", "docs <- docs/guide.md",
                                  "target/debug/out.txt <- target/debug/out.txt"));
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/docs"), "untracked file\n");

  Operation sync_op("op-3", "git.sync", "");
  absl::StatusOr<v1::GitSyncResult> synced = Repo().Sync("", /*preview=*/false, sync_op);
  ASSERT_TRUE(synced.ok()) << synced.status();
  EXPECT_EQ(synced->untracked_replaced_size(), 3);
  EXPECT_EQ(Head(clone_), tip);
  EXPECT_EQ(testing::ReadFileBytes(clone_ + "/target/debug/keep.txt"), "ignored, not in the way\n");
  EXPECT_THAT(testing::LogTexts(sync_op, v1::LogLine::STREAM_AGENT),
              Contains("replacing untracked docs with origin/main's docs/guide.md"));
}

TEST_F(GitRepoTest,
       SyncNeverReplacesAProtectedDirectoryThatDoesNotExistYetOrIsReachedThroughASymlink) {
  const std::string link = git_.root() + "/link-to-checkout";
  fs::create_directory_symlink(clone_, link);
  git_.PushToOrigin("state", "a file where the state goes\n", "Add a file named state");
  for (const std::string& base : {clone_, link}) {
    const GitRepo repo = Repo(clone_, base + "/.test-models", base + "/state");
    Operation sync_op("op-2", "git.sync", "");
    absl::StatusOr<v1::GitSyncResult> synced = repo.Sync("", /*preview=*/false, sync_op);
    EXPECT_EQ(GetReason(synced.status()), "PROTECTED_PATH");
    EXPECT_THAT(synced.status().message(),
                HasSubstr("origin/main has a file at state, where the agent's state directory is"));
  }
  EXPECT_FALSE(fs::exists(clone_ + "/state"));
}

TEST_F(GitRepoTest, SubmodulesHoldingAProtectedDirectoryAreNeverMoved) {
  const std::string models = clone_ + "/reference/alpha/models";
  git_.WriteFile(models, "tinyllama/model.gguf", "GGUF\n");
  const GitRepo repo = Repo(clone_, models, clone_ + "/state");
  Operation update_op("op-2", "git.submodules.update", "");
  absl::StatusOr<v1::SubmoduleUpdateResult> updated =
      repo.UpdateSubmodules({"reference/alpha"}, /*remote=*/true, /*force=*/true, update_op);
  EXPECT_EQ(GetReason(updated.status()), "PROTECTED_PATH");
  EXPECT_THAT(updated.status().message(),
              HasSubstr("submodule reference/alpha holds the models directory"));
  EXPECT_EQ(GetReason(repo.ResetSubmodule("reference/alpha").status()), "PROTECTED_PATH");
  Operation sync_op("op-3", "git.sync", "");
  absl::StatusOr<v1::GitSyncResult> synced = repo.Sync("", /*preview=*/true, sync_op);
  EXPECT_EQ(GetReason(synced.status()), "PROTECTED_PATH");
  EXPECT_THAT(synced.status().message(),
              HasSubstr("origin/main has a submodule at reference/alpha, in the way of the models "
                        "directory"));
  EXPECT_EQ(testing::ReadFileBytes(models + "/tinyllama/model.gguf"), "GGUF\n");
}

TEST_F(GitRepoTest, NamesAndBranchesThatCouldBeOptionsNeverReachGit) {
  const std::string marker = git_.root() + "/injected";
  const std::string payload = "--upload-pack=touch " + marker;
  absl::Status name = Repo().CheckSubmoduleNames({payload});
  EXPECT_EQ(name.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(GetReason(name), "SUBMODULE_NOT_FOUND");
  EXPECT_EQ(Repo().SwitchSubmoduleBranch(payload, "main").status().code(),
            absl::StatusCode::kNotFound);
  absl::StatusOr<v1::Submodule> branch = Repo().SwitchSubmoduleBranch("reference/alpha", payload);
  EXPECT_EQ(branch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(GetReason(branch.status()), "BAD_BRANCH_NAME");
  Operation sync_op("op-2", "git.sync", "");
  EXPECT_EQ(Repo().Sync(payload, true, sync_op).status().code(),
            absl::StatusCode::kInvalidArgument);
  for (const char* bad : {"a..b", "refs/heads/x:y", "x y", "x~1", "-d"}) {
    EXPECT_EQ(Repo().CheckBranchName(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_TRUE(Repo().CheckBranchName("llorch/metal-bugfixes").ok());
  EXPECT_FALSE(fs::exists(marker));
  absl::Status typo = Repo().CheckSubmoduleNames({"reference/alhpa"});
  EXPECT_THAT(typo.message(), HasSubstr("(did you mean 'reference/alpha'?)"));
}

TEST_F(GitRepoTest, WithoutACheckoutEveryCommandSaysSo) {
  testing::TempDir empty;
  for (const std::string& root : {empty.path(), std::string()}) {
    const GitRepo repo = Repo(root);
    absl::StatusOr<v1::GitStatus> status = repo.Status(false);
    EXPECT_EQ(status.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(GetReason(status.status()), "NOT_A_GIT_REPO");
    EXPECT_EQ(GetReason(repo.Clean(true).status()), "NOT_A_GIT_REPO");
  }
}

}  // namespace
}  // namespace llorch
