// Where things live by default, following the XDG base directory spec.
//
// Every function that depends on the environment takes it as a map (production passes
// EnvironmentSnapshot(), tests their own), so nothing here reads the real environment behind the
// caller's back. XDG variables that are unset, empty or relative are ignored, as the spec says.
// Paths are returned as given or lexically normalized; nothing here creates directories.
#ifndef LLORCH_COMMON_PATHS_H_
#define LLORCH_COMMON_PATHS_H_

#include <sys/types.h>

#include <map>
#include <string>

#include "absl/status/statusor.h"

namespace llorch {

struct Config;

// Environment variables by name.
using Environment = std::map<std::string, std::string>;

// The process environment as a map.
Environment EnvironmentSnapshot();

// The system-wide configuration file.
inline constexpr char kSystemConfigFile[] = "/etc/llorch/pool.toml";

// $XDG_CONFIG_HOME/llorch/pool.toml, XDG_CONFIG_HOME defaulting to $HOME/.config; "" when
// neither XDG_CONFIG_HOME nor HOME is set (then there is no user file).
std::string UserConfigFile(const Environment& env);

// /var/lib/llorch/pool for uid 0; otherwise $XDG_STATE_HOME/llorch/pool, XDG_STATE_HOME
// defaulting to $HOME/.local/state, and /tmp/llorch-<uid>/state when HOME is not set either.
std::string DefaultStateDir(const Environment& env, uid_t uid);

// $XDG_RUNTIME_DIR/llorch/pool-agent.sock; without XDG_RUNTIME_DIR, SystemSocketPath() for uid 0
// and /tmp/llorch-<uid>/pool-agent.sock for everyone else.
std::string DefaultSocketPath(const Environment& env, uid_t uid);

// The system service's socket: /run/llorch/pool-agent.sock.
std::string SystemSocketPath();

// The nearest directory at or above `start_dir` (symlinks resolved, as `git rev-parse
// --show-toplevel` does) holding a `.git` directory with a HEAD file, or a `.git` file starting
// with "gitdir:" (worktrees, submodules). Found without running git. NotFound when there is
// none, or when `start_dir` does not exist.
absl::StatusOr<std::string> FindGitTopLevel(const std::string& start_dir);

// `path` joined to `base` unless it is absolute, lexically normalized ("a/./b/../c" -> "a/c"),
// without a trailing slash. Symlinks are not resolved; the file need not exist.
std::string ResolvePath(const std::string& path, const std::string& base);

// config.models_dir resolved against `repo_root` (see ResolvePath): absolute stays absolute.
std::string ResolveModelsDir(const Config& config, const std::string& repo_root);

}  // namespace llorch

#endif  // LLORCH_COMMON_PATHS_H_
