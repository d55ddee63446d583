#include "agent/git/git_clean.h"

#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/git/git_parsers.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

std::string Literal(absl::string_view path) { return absl::StrCat(":(literal,top)", path); }
std::string Excluded(absl::string_view path) {
  return absl::StrCat(":(exclude,literal,top)", path);
}

// `git clean -d -n|-f -- <pathspecs>`: the paths it removed (or would remove).
absl::StatusOr<std::vector<std::string>> RunClean(const GitRunner& git, const fs::path& dir,
                                                  bool dry_run,
                                                  const std::vector<std::string>& pathspecs) {
  std::vector<std::string> args = {"-c", "core.quotePath=false", "clean",
                                   "-d", dry_run ? "-n" : "-f",  "--"};
  args.insert(args.end(), pathspecs.begin(), pathspecs.end());
  absl::StatusOr<std::string> out = git.Output(dir, args);
  if (!out.ok()) return out.status();
  std::vector<std::string> paths;
  for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
    if (std::optional<std::string> path = ParseCleanLine(line)) paths.push_back(std::move(*path));
  }
  return paths;
}

// The entries of the untracked directory `parent` as literal pathspecs, leaving out the
// protected ones and going into those that hold one (a symlink is never gone into: it is kept).
absl::Status AddEntriesAround(const fs::path& dir, const std::string& parent,
                              const ProtectedLayout& layout, std::vector<std::string>* pathspecs) {
  std::error_code ec;
  for (fs::directory_iterator it(dir / parent, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string path = absl::StrCat(parent, "/", it->path().filename().string());
    const ProtectedDir* held = layout.AtOrBelow(path);
    if (held == nullptr) {
      pathspecs->push_back(Literal(path));
      continue;
    }
    std::error_code type_ec;
    const fs::file_type type = it->symlink_status(type_ec).type();
    if (layout.At(path) != nullptr || type != fs::file_type::directory) continue;
    if (absl::Status inner = AddEntriesAround(dir, path, layout, pathspecs); !inner.ok()) {
      return inner;
    }
  }
  if (ec) {
    return absl::InternalError(absl::StrCat("cannot list ", (dir / parent).string(),
                                            " to clean around ",
                                            "a protected directory: ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<pool::v1::CleanResponse> CleanWorktree(const GitRunner& git, const fs::path& dir,
                                                      const ProtectedLayout& layout, bool dry_run) {
  if (const ProtectedDir* enclosing = layout.enclosing()) {
    return WithMetadata(WithReason(WithHint(absl::FailedPreconditionError(absl::StrCat(
                                                dir.string(), " lies in ", enclosing->what, " (",
                                                enclosing->path.string(),
                                                "): git clean would remove what it holds; "
                                                "nothing was removed")),
                                            absl::StrCat("keep ", enclosing->what,
                                                         " out of the checkout (models_dir or "
                                                         "state_dir in pool.toml)")),
                                   reasons::kProtectedPath),
                        metadata::kPath, enclosing->path.string());
  }
  pool::v1::CleanResponse response;
  response.set_dry_run(dry_run);
  // The pathspecs of each git run: everything but the protected directories; then, for an
  // untracked directory git would remove whole although one lies below it, its other entries.
  std::vector<std::vector<std::string>> runs = {{":/"}};
  std::vector<std::string> kept;
  for (const ProtectedLayout::Inside& inside : layout.inside()) {
    runs[0].push_back(Excluded(inside.relative));
    kept.push_back(Literal(inside.relative));
  }
  if (!kept.empty()) {
    absl::StatusOr<std::vector<std::string>> would_go = RunClean(git, dir, /*dry_run=*/true, kept);
    if (!would_go.ok()) return would_go.status();
    for (const std::string& path : *would_go) response.add_kept(path);
    absl::StatusOr<std::vector<std::string>> whole = RunClean(git, dir, /*dry_run=*/true, runs[0]);
    if (!whole.ok()) return whole.status();
    std::vector<std::string> around;
    for (const std::string& path : *whole) {
      if (!absl::EndsWith(path, "/") || layout.AtOrBelow(path) == nullptr) continue;
      const std::string parent = path.substr(0, path.size() - 1);
      runs[0].push_back(Excluded(parent));
      if (absl::Status listed = AddEntriesAround(dir, parent, layout, &around); !listed.ok()) {
        return listed;
      }
    }
    if (!around.empty()) runs.push_back(std::move(around));
  }
  for (const std::vector<std::string>& pathspecs : runs) {
    absl::StatusOr<std::vector<std::string>> removed = RunClean(git, dir, dry_run, pathspecs);
    if (!removed.ok()) return removed.status();
    for (const std::string& path : *removed) response.add_removed(path);
  }
  return response;
}

}  // namespace llorch
