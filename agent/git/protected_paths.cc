#include "agent/git/protected_paths.h"

#include <algorithm>
#include <system_error>

#include "absl/strings/match.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

absl::string_view WithoutTrailingSlash(absl::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

// `path` lexically normal and without a trailing separator ("/a/b/" -> "/a/b").
fs::path Normal(const fs::path& path) {
  fs::path normal = path.lexically_normal();
  if (!normal.has_filename() && normal.has_relative_path()) normal = normal.parent_path();
  return normal;
}

// The spellings of an absolute path: as given and resolved.
std::vector<fs::path> Spellings(const fs::path& path) {
  std::vector<fs::path> spellings = {Normal(fs::absolute(path))};
  std::error_code ec;
  const fs::path resolved = fs::weakly_canonical(path, ec);
  if (!ec && Normal(resolved) != spellings.front()) spellings.push_back(Normal(resolved));
  return spellings;
}

bool Escapes(const fs::path& relative) { return relative.empty() || *relative.begin() == ".."; }

}  // namespace

bool IsAtOrIn(absl::string_view path, absl::string_view base) {
  path = WithoutTrailingSlash(path);
  base = WithoutTrailingSlash(base);
  return path == base || (absl::StartsWith(path, base) && path[base.size()] == '/');
}

const ProtectedDir* ProtectedLayout::Touching(absl::string_view path) const {
  if (enclosing_ != nullptr) return enclosing_;
  for (const Inside& inside : inside_) {
    if (IsAtOrIn(path, inside.relative) || IsAtOrIn(inside.relative, path)) return inside.dir;
  }
  return nullptr;
}

const ProtectedDir* ProtectedLayout::AtOrBelow(absl::string_view path) const {
  for (const Inside& inside : inside_) {
    if (IsAtOrIn(inside.relative, path)) return inside.dir;
  }
  return nullptr;
}

const ProtectedDir* ProtectedLayout::At(absl::string_view path) const {
  for (const Inside& inside : inside_) {
    if (WithoutTrailingSlash(path) == inside.relative) return inside.dir;
  }
  return nullptr;
}

ProtectedLayout ProtectedDirs::In(const fs::path& worktree) const {
  ProtectedLayout layout;
  const std::vector<fs::path> roots = Spellings(worktree);
  for (const ProtectedDir& dir : dirs_) {
    if (dir.path.empty()) continue;
    for (const fs::path& spelling : Spellings(dir.path)) {
      for (const fs::path& root : roots) {
        const fs::path relative = spelling.lexically_relative(root);
        if (relative == ".") {
          if (layout.enclosing_ == nullptr) layout.enclosing_ = &dir;
        } else if (Escapes(relative)) {
          if (!Escapes(root.lexically_relative(spelling)) && layout.enclosing_ == nullptr) {
            layout.enclosing_ = &dir;
          }
        } else {
          const std::string text = relative.generic_string();
          const bool known = std::any_of(
              layout.inside_.begin(), layout.inside_.end(),
              [&](const ProtectedLayout::Inside& inside) { return inside.relative == text; });
          if (!known) layout.inside_.push_back({text, &dir});
        }
      }
    }
  }
  return layout;
}

}  // namespace llorch
