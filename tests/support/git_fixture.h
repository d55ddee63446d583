// Real git repositories for tests, built with the git CLI in a temporary directory and linked by
// file:// URLs only (no network), in the shape of the llama-orch checkout:
//
//   <root>/remotes/origin.git   bare superproject, branch main (3 commits): README.md, src/main.rs,
//                               .gitmodules declaring reference/alpha and reference/beta (with
//                               gitlinks) and reference/ghost (declared, no gitlink: "missing"),
//                               and .gitignore ignoring "/.test-models/" and "/target/"
//   <root>/remotes/alpha.git    bare submodule repo, branch main (2 commits) and branch
//                               llorch/metal-bugfixes (one more commit); .gitmodules names no
//                               branch for it
//   <root>/remotes/beta.git     bare submodule repo, branch main (2 commits); .gitmodules says
//                               branch = main for it
//   <root>/home/.gitconfig      the git configuration every git run here uses (user.name and
//                               user.email set, protocol.file.allow=always so that file://
//                               submodules clone, init.defaultBranch=main, maintenance.auto=false);
//                               Env() points GIT_CONFIG_GLOBAL and HOME at it and sets
//                               GIT_CONFIG_NOSYSTEM=1
//
// Clones are made under <root>/<name>. Every helper runs git by argv (never a shell) with Env()
// and fails the current test (ADD_FAILURE with git's stderr) when git fails; those returning a
// sha return the full 40 hex digits.
#ifndef LLORCH_TESTS_SUPPORT_GIT_FIXTURE_H_
#define LLORCH_TESTS_SUPPORT_GIT_FIXTURE_H_

#include <map>
#include <string>
#include <vector>

#include "tests/support/run_command.h"

namespace llorch::testing {

class GitFixture {
 public:
  // Builds the three remotes. Takes a fraction of a second.
  GitFixture();

  const std::string& root() const { return temp_.path(); }
  // The environment for git (and for an agent under test that runs git): the test's own, with
  // GIT_CONFIG_GLOBAL, GIT_CONFIG_NOSYSTEM=1, HOME, and no GIT_DIR/GIT_WORK_TREE leaking in.
  std::map<std::string, std::string> Env() const;
  // Sets Env()'s git variables in this process's environment (for an in-process agent).
  void ExportEnv() const;

  // "file://<root>/remotes/<repo>.git" for "origin", "alpha", "beta".
  std::string Url(const std::string& repo) const;

  // A clone of origin at <root>/<name>, main checked out tracking origin/main; with
  // init_submodules, `git submodule update --init --recursive` has run (alpha and beta checked
  // out detached at the recorded commits). Returns its absolute path.
  std::string Clone(const std::string& name, bool init_submodules = true);

  // Runs `git -C <dir> <args...>` and returns its stdout without the trailing newline.
  std::string Git(const std::string& dir, const std::vector<std::string>& args) const;
  // The same, but returns the whole result and does not fail the test.
  CommandResult TryGit(const std::string& dir, const std::vector<std::string>& args) const;

  // Writes `content` to <dir>/<path> (creating directories).
  void WriteFile(const std::string& dir, const std::string& path, const std::string& content) const;

  // Commits `content` as `path` in the checkout `dir` (git add -f, so also a path .gitignore
  // ignores, + commit); returns the commit.
  std::string Commit(const std::string& dir, const std::string& path, const std::string& content,
                     const std::string& message) const;

  // Pushes a new commit changing `path` to origin's main (through a scratch clone), so that
  // existing clones are behind by one. Returns the commit.
  std::string PushToOrigin(const std::string& path, const std::string& content,
                           const std::string& message);

  // Pushes a new commit to the submodule repo `submodule` ("alpha" or "beta") on `branch`, and,
  // with record, a commit to origin's main moving the superproject's gitlink
  // reference/<submodule> to it. Returns the submodule commit.
  std::string PushToSubmodule(const std::string& submodule, const std::string& branch, bool record);

  // The commit origin's main records for reference/<submodule>.
  std::string RecordedSubmoduleCommit(const std::string& submodule) const;

  // Makes origin unreachable (renames origin.git away) until RestoreOrigin().
  void BreakOrigin();
  void RestoreOrigin();

 private:
  // A fresh clone of Url(repo) with `branch` checked out, at <root>/build/scratch-<n>.
  std::string ScratchClone(const std::string& repo, const std::string& branch);

  TempDir temp_;
  int scratch_ = 0;  // numbers scratch clones
};

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_GIT_FIXTURE_H_
