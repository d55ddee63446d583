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

// A user's own directory for the socket and state when the XDG variables are missing:
// $TMPDIR/llorch-<uid>, TMPDIR defaulting to /tmp. pool-agent creates it with mode 0700 and
// refuses one another user created (trusted_dir.h).
std::string PrivateTempDir(const Environment& env, uid_t uid);

// /var/lib/llorch/pool for uid 0; otherwise $XDG_STATE_HOME/llorch/pool, XDG_STATE_HOME
// defaulting to $HOME/.local/state, and PrivateTempDir()/state when HOME is not set either.
std::string DefaultStateDir(const Environment& env, uid_t uid);

// $XDG_RUNTIME_DIR/llorch/pool-agent.sock; without XDG_RUNTIME_DIR, SystemSocketPath() for uid 0
// and PrivateTempDir()/pool-agent.sock for everyone else.
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

// Where models go when there is no checkout and models_dir is not configured:
// /var/lib/llorch/models for uid 0 (beside the system agent's state), otherwise
// $XDG_DATA_HOME/llorch/models, XDG_DATA_HOME defaulting to $HOME/.local/share, and
// PrivateTempDir()/models when HOME is not set either (as DefaultStateDir()).
std::string DefaultModelsDirOutsideCheckout(const Environment& env, uid_t uid);

// The models directory: config.models_dir resolved against `repo_root` (see ResolvePath:
// absolute stays absolute). Without a checkout (`repo_root` ""), a configured models_dir is
// resolved against `working_dir`, and the default (".test-models", the checkout's) becomes
// DefaultModelsDirOutsideCheckout(), so that a command run from any directory does not leave a
// .test-models there.
std::string ResolveModelsDir(const Config& config, const std::string& repo_root,
                             const std::string& working_dir, const Environment& env, uid_t uid);

// The directories an agent works in (pool-agent and the CLI's in-process agent alike).
struct AgentPaths {
  std::string repo_root;   // "" when not configured and `working_dir` is in no git checkout
  std::string models_dir;  // absolute
  std::string state_dir;   // absolute
};

// Resolves the configured paths: repo_root and state_dir against `working_dir`, models_dir as
// ResolveModelsDir() says; an unset repo_root is the git top
// level of `working_dir`, an unset state_dir DefaultStateDir(env, uid). InvalidArgument, naming
// the setting and where it was set, when repo_root does not exist or is not a directory, or when
// models_dir or state_dir exists but is not a directory (they may be missing: they are created
// when first needed). A repo_root outside a git checkout is fine here: git commands refuse it.
absl::StatusOr<AgentPaths> ResolveAgentPaths(const Config& config, const std::string& working_dir,
                                             const Environment& env, uid_t uid);

}  // namespace llorch

#endif  // LLORCH_COMMON_PATHS_H_
