// Moving a work tree to another commit's tree (sync's `reset --hard`, pull's merge or rebase):
// what git does not track that the move would replace or remove, checked before git runs.
//
// git treats untracked paths in the way of `reset --hard`, and ignored ones in the way of
// merge, rebase and checkout, as expendable: it overwrites them, or removes them (a whole
// directory) to make room for a tracked path. A path is in the way when the target tree has a
// file, symlink or submodule at it, at one of its parent directories, or below it where the
// work tree holds a file, symlink or directory that git does not track. Symlinks in the work
// tree are never followed: git replaces the link itself.
//
// The protected directories (protected_paths.h) are never replaced or removed: a target path at
// or above one, a submodule holding one, or anything in the way in one refuses the move
// (FAILED_PRECONDITION, reason PROTECTED_PATH, naming the target's path and the directory).
#ifndef LLORCH_AGENT_GIT_WORKTREE_MOVE_H_
#define LLORCH_AGENT_GIT_WORKTREE_MOVE_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/git/git_runner.h"
#include "agent/git/protected_paths.h"

namespace llorch {

struct PathInTheWay {
  std::string path;           // untracked or ignored, relative; a directory ends with '/'
  std::string upstream_path;  // the target tree's path that takes its place
};

// The untracked and ignored paths of the work tree at `dir` that moving it to `commit` would
// replace or remove, in path order; `upstream` names the commit in messages ("origin/main").
// Refuses as described above.
absl::StatusOr<std::vector<PathInTheWay>> CheckMove(const GitRunner& git,
                                                    const std::filesystem::path& dir,
                                                    const ProtectedLayout& layout,
                                                    const std::string& commit,
                                                    absl::string_view upstream);

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_WORKTREE_MOVE_H_
