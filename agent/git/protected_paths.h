// The directories no git command may replace or remove: the models directory and the agent's
// state directory (design.md, security model), and where they lie in a work tree.
//
// Where is decided on path components, never on patterns, and under every spelling: each
// directory as configured and as resolved (symlinks followed as far as the path exists), against
// the work tree as given and as resolved. So a checkout reached through a symlink, a directory
// configured through one, a symlink inside the checkout that stands for the directory, and a
// directory that does not exist yet are all recognised.
#ifndef LLORCH_AGENT_GIT_PROTECTED_PATHS_H_
#define LLORCH_AGENT_GIT_PROTECTED_PATHS_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace llorch {

struct ProtectedDir {
  std::string what;            // "the models directory", for messages
  std::filesystem::path path;  // as configured, absolute
};

// The protected directories as seen from one work tree. Paths are relative to it, '/'-separated,
// without a trailing '/' (one is ignored where given).
class ProtectedLayout {
 public:
  struct Inside {
    std::string relative;  // e.g. ".test-models", "data/models"
    const ProtectedDir* dir;
  };

  // A protected directory that is the work tree itself or holds it: then everything in the
  // work tree is in it. nullptr when none.
  const ProtectedDir* enclosing() const { return enclosing_; }
  // The protected directories inside the work tree, once per distinct spelling.
  const std::vector<Inside>& inside() const { return inside_; }

  // The protected directory that `path` is, lies in or holds; nullptr when none.
  const ProtectedDir* Touching(absl::string_view path) const;
  // The protected directory that `path` is or holds (so that a file, symlink or submodule there
  // would take its place); nullptr when none.
  const ProtectedDir* AtOrBelow(absl::string_view path) const;
  // The protected directory that `path` is; nullptr when none.
  const ProtectedDir* At(absl::string_view path) const;

 private:
  friend class ProtectedDirs;
  const ProtectedDir* enclosing_ = nullptr;
  std::vector<Inside> inside_;
};

class ProtectedDirs {
 public:
  explicit ProtectedDirs(std::vector<ProtectedDir> dirs) : dirs_(std::move(dirs)) {}

  // Where the directories lie relative to the work tree at `worktree` (absolute). The layout
  // points into this object.
  ProtectedLayout In(const std::filesystem::path& worktree) const;

 private:
  std::vector<ProtectedDir> dirs_;
};

// True when `path` is `base` or lies in it, on whole components ("a/bc" is not in "a/b").
bool IsAtOrIn(absl::string_view path, absl::string_view base);

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_PROTECTED_PATHS_H_
