#include "common/paths.h"

#include <sys/stat.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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

// InvalidArgument naming `key` and where it was set unless `path` (its resolved value) is a
// directory, or does not exist and `may_be_missing`. What cannot be inspected (EACCES) is left to
// whoever uses it.
absl::Status CheckDirectorySetting(const Config& config, const std::string& key,
                                   const std::string& path, bool may_be_missing,
                                   absl::string_view hint) {
  struct stat info {};
  std::string problem;
  if (stat(path.c_str(), &info) == 0) {
    if (S_ISDIR(info.st_mode)) return absl::OkStatus();
    problem = "is not a directory";
  } else if (errno == ENOENT) {
    if (may_be_missing) return absl::OkStatus();
    problem = "does not exist";
  } else if (errno == ENOTDIR) {
    problem = "cannot be a directory: a part of its path is not one";
  } else {
    return absl::OkStatus();
  }
  auto origin = config.origin.find(key);
  const std::string set_by = origin == config.origin.end() || origin->second == "default"
                                 ? "the default"
                                 : absl::StrCat("set by ", origin->second);
  return WithHint(
      absl::InvalidArgumentError(absl::StrCat(key, " '", path, "' (", set_by, ") ", problem)),
      hint);
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

std::string PrivateTempDir(const Environment& env, uid_t uid) {
  const std::string tmp = AbsoluteVariable(env, "TMPDIR");
  return ResolvePath(absl::StrCat("llorch-", uid), tmp.empty() ? "/tmp" : tmp);
}

std::string DefaultStateDir(const Environment& env, uid_t uid) {
  if (uid == 0) return "/var/lib/llorch/pool";
  std::string dir = XdgDir(env, "XDG_STATE_HOME", ".local/state");
  return ResolvePath(dir.empty() ? "state" : "llorch/pool",
                     dir.empty() ? PrivateTempDir(env, uid) : dir);
}

std::string DefaultSocketPath(const Environment& env, uid_t uid) {
  std::string runtime = AbsoluteVariable(env, "XDG_RUNTIME_DIR");
  if (!runtime.empty()) return ResolvePath("llorch/pool-agent.sock", runtime);
  if (uid == 0) return SystemSocketPath();
  return ResolvePath("pool-agent.sock", PrivateTempDir(env, uid));
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

std::string DefaultModelsDirOutsideCheckout(const Environment& env, uid_t uid) {
  if (uid == 0) return "/var/lib/llorch/models";
  const std::string dir = XdgDir(env, "XDG_DATA_HOME", ".local/share");
  return ResolvePath(dir.empty() ? "models" : "llorch/models",
                     dir.empty() ? PrivateTempDir(env, uid) : dir);
}

std::string ResolveModelsDir(const Config& config, const std::string& repo_root,
                             const std::string& working_dir, const Environment& env, uid_t uid) {
  if (!repo_root.empty()) return ResolvePath(config.models_dir, repo_root);
  // The default value nobody set (a program may set the field without an origin).
  auto origin = config.origin.find("models_dir");
  if (config.models_dir == Config().models_dir &&
      (origin == config.origin.end() || origin->second == "default")) {
    return DefaultModelsDirOutsideCheckout(env, uid);
  }
  return ResolvePath(config.models_dir, working_dir);
}

absl::StatusOr<AgentPaths> ResolveAgentPaths(const Config& config, const std::string& working_dir,
                                             const Environment& env, uid_t uid) {
  AgentPaths paths;
  if (!config.repo_root.empty()) {
    paths.repo_root = ResolvePath(config.repo_root, working_dir);
  } else if (absl::StatusOr<std::string> top = FindGitTopLevel(working_dir); top.ok()) {
    paths.repo_root = *top;
  }
  paths.models_dir = ResolveModelsDir(config, paths.repo_root, working_dir, env, uid);
  paths.state_dir = config.state_dir.empty() ? DefaultStateDir(env, uid)
                                             : ResolvePath(config.state_dir, working_dir);
  struct Setting {
    const char* key;
    const std::string& path;
    bool may_be_missing;
    const char* hint;
  };
  const Setting settings[] = {
      {"repo_root", paths.repo_root, false,
       "point repo_root (--repo-root, LLORCH_REPO_ROOT) at the llama-orch checkout, or leave it "
       "unset to use the checkout of the working directory"},
      {"models_dir", paths.models_dir, true,
       "point models_dir (--models-dir, LLORCH_MODELS_DIR) at a directory; a missing one is "
       "created by the first download"},
      {"state_dir", paths.state_dir, true,
       "point state_dir (LLORCH_STATE_DIR) at a directory; a missing one is created by the "
       "agent"},
  };
  for (const Setting& setting : settings) {
    if (setting.path.empty()) continue;  // no checkout
    if (absl::Status status = CheckDirectorySetting(config, setting.key, setting.path,
                                                    setting.may_be_missing, setting.hint);
        !status.ok()) {
      return status;
    }
  }
  return paths;
}

}  // namespace llorch
