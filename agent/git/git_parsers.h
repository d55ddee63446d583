// Parsers of git's machine formats (never of its screen text), as git 2.x prints them with
// LC_ALL=C. Pure functions over the text; git_repo.h runs the commands.
#ifndef LLORCH_AGENT_GIT_GIT_PARSERS_H_
#define LLORCH_AGENT_GIT_GIT_PARSERS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// One changed path of `git status --porcelain=v2`.
struct ChangedPath {
  std::string path;  // as git prints it (C-quoted when it holds unusual characters)
  std::string
      status;  // "XY": index then worktree, '.' for unchanged; "??" untracked; "UU".. unmerged
};

// `git status --porcelain=v2 --branch`.
struct WorktreeStatus {
  std::string head_sha;  // "" before the first commit
  std::string branch;    // "" when detached
  bool detached = false;
  std::string upstream;  // e.g. "origin/main"; "" when none
  uint32_t ahead = 0;
  uint32_t behind = 0;
  uint32_t staged = 0;    // paths with staged changes
  uint32_t unstaged = 0;  // tracked paths with unstaged changes (unmerged ones too)
  uint32_t untracked = 0;
  std::vector<ChangedPath> changes;     // every entry above, in git's order
  std::vector<std::string> conflicted;  // unmerged paths

  bool has_tracked_changes() const { return staged > 0 || unstaged > 0; }
};
absl::StatusOr<WorktreeStatus> ParseStatusV2(absl::string_view text);

// One [submodule "<name>"] section of .gitmodules.
struct GitmodulesEntry {
  std::string name;
  std::string path;
  std::string url;
  std::string branch;  // "" when none is configured
};
// `git config -f .gitmodules --list`, sections in file order. Entries without a path are left
// out (git ignores them too).
std::vector<GitmodulesEntry> ParseGitmodules(absl::string_view config_list);

// Gitlinks (mode 160000) by path, from `git ls-files -s` ("<mode> <sha> <stage>\t<path>") or
// `git ls-tree` ("<mode> commit <sha>\t<path>") output; other entries are skipped.
std::map<std::string, std::string> ParseGitlinks(absl::string_view text);

struct LoggedCommit {
  std::string sha;
  std::string subject;
};
// `git log --format=%H%x1f%s` output.
std::vector<LoggedCommit> ParseLog(absl::string_view text);

// The entries of a NUL-terminated listing (`git ls-files -z`), bytes as they are.
std::vector<std::string> SplitNul(absl::string_view text);

// One entry of `git ls-tree -r -z` ("<mode> <type> <object>\t<path>\0").
struct TreeEntry {
  std::string mode;  // "100644", "100755", "120000" (symlink), "160000" (submodule)
  std::string path;
  bool is_gitlink() const { return mode == "160000"; }
};
absl::StatusOr<std::vector<TreeEntry>> ParseTreeZ(absl::string_view text);

// A path as git prints it for people: C-quoted ("\"a\\\\b\"", octal escapes) when it holds
// unusual bytes, else as it is.
std::string UnquotePath(absl::string_view text);

// The path of a `git clean` line ("Would remove x/", "Removing x"), unquoted; nullopt for
// other lines ("Would skip repository x/").
std::optional<std::string> ParseCleanLine(absl::string_view line);

// One progress line of git's stderr, e.g. "Receiving objects:  45% (450/1000), 1.2 MiB | ...".
struct GitProgress {
  std::string what;  // "Receiving objects"
  uint64_t done = 0;
  uint64_t total = 0;
};
std::optional<GitProgress> ParseGitProgress(absl::string_view line);

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_GIT_PARSERS_H_
