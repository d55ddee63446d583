// The agent's repository checkout and its submodules: what `llorch-pool git ...` does, as plain
// domain code over GitRunner (the gRPC adapter is git_service.h).
//
// Before anything runs: the checkout must exist (FAILED_PRECONDITION, reason NOT_A_GIT_REPO),
// submodule names must be declared in .gitmodules (NOT_FOUND, SUBMODULE_NOT_FOUND, with the
// closest name), branch names must pass `git check-ref-format --branch` and may not start with
// '-' (INVALID_ARGUMENT, BAD_BRANCH_NAME): nothing a caller sends reaches git as an option.
//
// The commands that change the checkout never lose work silently:
//   - Pull refuses when tracked files have local changes (LOCAL_CHANGES), on a detached HEAD or
//     without an upstream, and when untracked or ignored paths are in the way of the upstream's
//     tree (UNTRACKED_IN_THE_WAY, worktree_move.h: git would overwrite ignored ones silently); a
//     pull that stops on a conflict is rolled back (rebase/merge --abort) and the error names the
//     files (CONFLICT); ff-only on diverged branches says so (DIVERGED).
//   - Sync reports, before (preview) and after, the changes to tracked files, the local commits
//     and the untracked and ignored paths in the way that it discards; other untracked files stay.
//   - Updating submodules keeps a submodule the operator put on a branch on it (unless force),
//     where the bash script silently detached it; reset reports what it discarded.
// No command replaces or removes the protected directories (the models and state directories,
// protected_paths.h), with or without force: pull and sync refuse (PROTECTED_PATH) when the
// target tree has a path at or above one or would replace anything in one, the submodule
// commands refuse for a submodule that holds one, and clean leaves them out (git_clean.h).
// An unreachable remote is UNAVAILABLE (REMOTE_UNREACHABLE) naming it, and leaves the checkout as
// it was. Independent git calls of a status run in parallel; the changing commands of one agent
// run one at a time. Thread-safe.
#ifndef LLORCH_AGENT_GIT_GIT_REPO_H_
#define LLORCH_AGENT_GIT_GIT_REPO_H_

#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/git/git_parsers.h"
#include "agent/git/git_runner.h"
#include "agent/git/protected_paths.h"
#include "agent/ops/operation.h"
#include "llorch/pool/v1/git.pb.h"

namespace llorch {

struct GitRepoOptions {
  std::filesystem::path root;  // the checkout; "" when none is known
  GitOptions git;
  pool::v1::PullMode pull_mode = pool::v1::PULL_MODE_REBASE;  // config git.pull_mode
  std::string sync_branch = "main";                           // config git.sync_branch
  // Never replaced or removed by any command (models_dir, state_dir).
  std::vector<ProtectedDir> protected_dirs;
  std::string rustc = "rustc";
  std::string cargo = "cargo";
};

class GitRepo {
 public:
  explicit GitRepo(GitRepoOptions options);

  const std::filesystem::path& root() const { return options_.root; }

  // The checks described above, for callers that validate before starting an operation.
  absl::Status CheckRepo() const;
  absl::Status CheckSubmoduleNames(const std::vector<std::string>& names) const;
  absl::Status CheckBranchName(const std::string& branch) const;

  absl::StatusOr<pool::v1::GitStatus> Status(bool include_files) const;
  absl::StatusOr<std::vector<pool::v1::Submodule>> Submodules() const;
  absl::StatusOr<pool::v1::Submodule> Submodule(const std::string& name) const;

  // The long ones report git's progress and output into `op` (they do not finish it).
  absl::StatusOr<pool::v1::GitPullResult> Pull(pool::v1::PullMode mode, Operation& op) const;
  absl::StatusOr<pool::v1::GitSyncResult> Sync(const std::string& branch, bool preview,
                                               Operation& op) const;
  absl::StatusOr<pool::v1::SubmoduleUpdateResult> UpdateSubmodules(
      const std::vector<std::string>& names, bool remote, bool force, Operation& op) const;

  absl::StatusOr<pool::v1::ResetSubmoduleResponse> ResetSubmodule(const std::string& name) const;
  absl::StatusOr<pool::v1::Submodule> SwitchSubmoduleBranch(const std::string& name,
                                                            const std::string& branch) const;
  absl::StatusOr<pool::v1::CleanResponse> Clean(bool dry_run) const;

 private:
  absl::StatusOr<std::string> Git(const std::vector<std::string>& args) const;
  // `git status` of the checkout or a submodule at `dir`. Without submodule_content, changes
  // inside submodules' work trees are left out (each submodule's own status says them; asking
  // the superproject makes git visit every submodule again, one after another).
  absl::StatusOr<WorktreeStatus> WorktreeOf(const std::filesystem::path& dir,
                                            bool submodule_content = true) const;
  absl::StatusOr<std::vector<GitmodulesEntry>> Declared() const;
  // PROTECTED_PATH when the work tree of `submodule` holds a protected directory.
  absl::Status CheckHoldsNothingProtected(const pool::v1::Submodule& submodule) const;
  absl::StatusOr<pool::v1::Submodule> Describe(const GitmodulesEntry& entry,
                                               const std::string& recorded_sha) const;
  absl::StatusOr<pool::v1::Submodule> Find(const std::string& name) const;
  // Runs a git command that talks to a remote, with git's progress as operation progress.
  absl::StatusOr<GitResult> RunNetwork(const std::filesystem::path& dir,
                                       const std::vector<std::string>& args, Operation* op) const;
  // `git submodule update` of `submodules`, keeping those on a branch unless `force`.
  absl::StatusOr<pool::v1::SubmoduleUpdateResult> UpdateEach(
      const std::vector<pool::v1::Submodule>& submodules, bool remote, bool force,
      Operation& op) const;

  GitRepoOptions options_;
  GitRunner runner_;
  ProtectedDirs protected_;
  // The commands that change the checkout run one at a time (git's index.lock would fail the
  // second; across processes it still does, with git's own message).
  mutable std::mutex write_mu_;
};

// "rebase", "ff-only", "merge" (config git.pull_mode) as a PullMode; REBASE for anything else.
pool::v1::PullMode PullModeFromConfig(const std::string& mode);

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_GIT_REPO_H_
