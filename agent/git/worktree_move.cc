#include "agent/git/worktree_move.h"

#include <map>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/git/git_parsers.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

// The target tree: path -> whether it is a submodule.
using Target = std::map<std::string, bool>;

// The untracked and ignored paths in the way of `target`, path -> the target path taking its
// place. `untracked` is `git ls-files --others --directory` (without excludes: ignored paths
// too), so a wholly untracked directory comes as one entry ending with '/'.
std::map<std::string, std::string> FindInTheWay(const fs::path& dir,
                                                const std::vector<std::string>& untracked,
                                                const Target& target) {
  std::map<std::string, std::string> found;
  for (const std::string& entry : untracked) {
    const bool is_dir = absl::EndsWith(entry, "/");
    const std::string path = is_dir ? entry.substr(0, entry.size() - 1) : entry;
    // A target path at the entry (a submodule may take an existing directory), or at one of
    // its parents.
    if (auto at = target.find(path); at != target.end()) {
      if (!(is_dir && at->second)) found.emplace(entry, path);
      continue;
    }
    bool replaced = false;
    for (size_t slash = path.find('/'); slash != std::string::npos && !replaced;
         slash = path.find('/', slash + 1)) {
      if (target.contains(path.substr(0, slash))) {
        found.emplace(entry, path.substr(0, slash));
        replaced = true;
      }
    }
    if (replaced) continue;
    // Target paths below the entry: a file is removed to make room for a directory; in an
    // untracked directory, only what is at a target path or at one of its parents goes.
    const std::string below = path + "/";
    for (auto it = target.lower_bound(below);
         it != target.end() && absl::StartsWith(it->first, below); ++it) {
      if (!is_dir) {
        found.emplace(entry, it->first);
        break;
      }
      for (size_t end = it->first.find('/', below.size());; end = it->first.find('/', end + 1)) {
        const std::string step = it->first.substr(0, end);
        std::error_code ec;
        const fs::file_status status = fs::symlink_status(dir / step, ec);
        if (ec || status.type() == fs::file_type::not_found) break;
        const bool step_is_dir = fs::is_directory(status);
        if (end == std::string::npos) {  // at the target path itself
          if (!(step_is_dir && it->second))
            found.emplace(step_is_dir ? step + "/" : step, it->first);
          break;
        }
        if (!step_is_dir) {
          found.emplace(step, it->first);
          break;
        }
      }
    }
  }
  return found;
}

absl::Status Refuse(std::string what_happened, const ProtectedDir& dir, absl::string_view upstream,
                    absl::string_view upstream_path) {
  return WithMetadata(
      WithReason(WithHint(absl::FailedPreconditionError(
                              absl::StrCat(std::move(what_happened),
                                           "; git would replace or remove it, so nothing was "
                                           "changed")),
                          absl::StrCat("move ", dir.what,
                                       " elsewhere (models_dir or state_dir in pool.toml, "
                                       "then move its contents), or change ",
                                       upstream, " so that it does not track ", upstream_path)),
                 reasons::kProtectedPath),
      metadata::kPath, dir.path.string());
}

}  // namespace

absl::StatusOr<std::vector<PathInTheWay>> CheckMove(const GitRunner& git, const fs::path& dir,
                                                    const ProtectedLayout& layout,
                                                    const std::string& commit,
                                                    absl::string_view upstream) {
  absl::StatusOr<std::string> tree =
      git.OutputBytes(dir, {"ls-tree", "-r", "-z", "--full-tree", commit});
  if (!tree.ok()) return tree.status();
  absl::StatusOr<std::vector<TreeEntry>> entries = ParseTreeZ(*tree);
  if (!entries.ok()) return entries.status();
  absl::StatusOr<std::string> others =
      git.OutputBytes(dir, {"ls-files", "-z", "--others", "--directory"});
  if (!others.ok()) return others.status();

  Target target;
  for (const TreeEntry& entry : *entries) {
    target.emplace(entry.path, entry.is_gitlink());
    const ProtectedDir* protected_dir = layout.AtOrBelow(entry.path);
    if (protected_dir == nullptr) continue;
    const char* kind = entry.is_gitlink()       ? "a submodule"
                       : entry.mode == "120000" ? "a symlink"
                                                : "a file";
    const bool at = layout.At(entry.path) != nullptr;
    return Refuse(absl::StrCat(upstream, " has ", kind, " at ", entry.path,
                               at ? ", where " : ", in the way of ", protected_dir->what,
                               at ? " is (" : " (", protected_dir->path.string(), ")"),
                  *protected_dir, upstream, entry.path);
  }
  std::vector<PathInTheWay> in_the_way;
  for (auto& [path, upstream_path] : FindInTheWay(dir, SplitNul(*others), target)) {
    if (const ProtectedDir* protected_dir = layout.Touching(path)) {
      return Refuse(
          absl::StrCat(upstream, "'s ", upstream_path, " would replace ", path, ", which is in ",
                       protected_dir->what, " (", protected_dir->path.string(), ")"),
          *protected_dir, upstream, upstream_path);
    }
    in_the_way.push_back({path, upstream_path});
  }
  return in_the_way;
}

}  // namespace llorch
