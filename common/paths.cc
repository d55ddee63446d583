#include "common/paths.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "common/file_read.h"
#include "common/status.h"

extern char** environ;

namespace llorch {
namespace fs = std::filesystem;
namespace {

// The value of `name` when it is an absolute path, else "".
std::string AbsoluteVariable(const Environment& env, const std::string& name) {
  auto it = env.find(name);
  if (it == env.end() || it->second.empty() || it->second[0] != '/') return "";
  return it->second;
}

// $var if usable, else $HOME/fallback, else "".
std::string XdgDir(const Environment& env, const std::string& var, const std::string& fallback) {
  std::string dir = AbsoluteVariable(env, var);
  if (!dir.empty()) return dir;
  std::string home = AbsoluteVariable(env, "HOME");
  if (home.empty()) return "";
  return ResolvePath(fallback, home);
}

// True when `dir` holds a git directory or a gitdir link file named .git.
bool HasGitMarker(const fs::path& dir) {
  std::error_code ec;
  const fs::path marker = dir / ".git";
  if (fs::is_directory(marker, ec)) return fs::exists(marker / "HEAD", ec);
  absl::StatusOr<std::string> link = ReadRegularFile(marker, {.max_bytes = 64 << 10});
  return link.ok() && absl::StartsWith(*link, "gitdir:");
}

}  // namespace

Environment EnvironmentSnapshot() {
  Environment env;
  for (char** entry = environ; entry != nullptr && *entry != nullptr; ++entry) {
    std::string_view text(*entry);
    size_t eq = text.find('=');
    if (eq != std::string_view::npos) {
      env.emplace(std::string(text.substr(0, eq)), std::string(text.substr(eq + 1)));
    }
  }
  return env;
}

std::string UserConfigFile(const Environment& env) {
  std::string dir = XdgDir(env, "XDG_CONFIG_HOME", ".config");
  return dir.empty() ? "" : ResolvePath("llorch/pool.toml", dir);
}

std::string DefaultStateDir(const Environment& env, uid_t uid) {
  if (uid == 0) return "/var/lib/llorch/pool";
  std::string dir = XdgDir(env, "XDG_STATE_HOME", ".local/state");
  return dir.empty() ? absl::StrCat("/tmp/llorch-", uid, "/state")
                     : ResolvePath("llorch/pool", dir);
}

std::string DefaultSocketPath(const Environment& env, uid_t uid) {
  std::string runtime = AbsoluteVariable(env, "XDG_RUNTIME_DIR");
  if (!runtime.empty()) return ResolvePath("llorch/pool-agent.sock", runtime);
  if (uid == 0) return SystemSocketPath();
  return absl::StrCat("/tmp/llorch-", uid, "/pool-agent.sock");
}

std::string SystemSocketPath() { return "/run/llorch/pool-agent.sock"; }

absl::StatusOr<std::string> FindGitTopLevel(const std::string& start_dir) {
  std::error_code ec;
  fs::path dir = fs::canonical(start_dir.empty() ? "." : start_dir, ec);
  if (ec) {
    return absl::NotFoundError(
        absl::StrCat("cannot look for a git checkout from '", start_dir, "': ", ec.message()));
  }
  if (!fs::is_directory(dir, ec)) dir = dir.parent_path();
  for (;;) {
    if (HasGitMarker(dir)) return dir.string();
    if (!dir.has_relative_path()) break;  // reached "/"
    dir = dir.parent_path();
  }
  return WithHint(
      absl::NotFoundError(absl::StrCat("'", start_dir, "' is not inside a git checkout")),
      "run from inside the checkout, or set repo_root (--repo-root, "
      "LLORCH_REPO_ROOT)");
}

std::string ResolvePath(const std::string& path, const std::string& base) {
  fs::path resolved = (fs::path(base) / path).lexically_normal();
  if (!resolved.has_filename() && resolved.has_relative_path()) {
    resolved = resolved.parent_path();  // "a/b/" -> "a/b"
  }
  return resolved.string();
}

std::string ResolveModelsDir(const Config& config, const std::string& repo_root) {
  return ResolvePath(config.models_dir, repo_root);
}

}  // namespace llorch
