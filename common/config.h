// The configuration of both binaries: TOML files layered with the environment and flags.
//
// Layers, lowest first: defaults < /etc/llorch/pool.toml < $XDG_CONFIG_HOME/llorch/pool.toml <
// --config FILE < environment (LLORCH_*, NO_COLOR) < flags. LoadConfig() applies them all, the
// flags as ConfigSources::flags (SetFromFlag() applies one flag by itself). Missing system and
// user files are
// fine; a missing --config file is NotFound. Every file must be a regular file of at most
// kMaxInputFileBytes (1 MiB): a FIFO, device or directory, or a bigger file, is InvalidArgument
// before anything is read (file_read.h). Unknown keys and tables, wrong types and bad values
// are InvalidArgument errors naming the file and line ("pool.toml:3: unknown key 'modles_dir'
// (did you mean 'models_dir'?)"), all of a file's problems at once, one per line. A layer with a
// problem changes nothing. Values are stored as written (relative paths stay relative; see
// paths.h to resolve them). docs/configuration.md documents every key.
//
// One walk of the layers (WalkConfigLayers) serves both the loading and `dev check-config`: the
// loader stops at the first layer with a problem, the check walks on and collects every problem.
#ifndef LLORCH_COMMON_CONFIG_H_
#define LLORCH_COMMON_CONFIG_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/paths.h"

namespace llorch {

// Every key Config knows, dotted ("agent.listen"), in documentation order.
const std::vector<std::string>& ConfigKeys();

namespace config_internal {
std::map<std::string, std::string> DefaultOrigins();  // every key -> "default"
}  // namespace config_internal

// One command-line flag that sets a configuration key.
struct ConfigFlag {
  std::string key;                  // dotted, e.g. "models_dir"
  std::string flag;                 // e.g. "--models-dir"
  std::vector<std::string> values;  // one for a string or integer key; a list key takes several
};

// Where a configuration comes from: the layers WalkConfigLayers() applies, lowest first.
struct ConfigSources {
  std::string system_file = kSystemConfigFile;  // "" = none
  std::string user_file;                        // "" = UserConfigFile(env)
  // --config: nullopt = none; must exist when given, and "" is refused (a script whose variable
  // came out empty must not run on the defaults unawares).
  std::optional<std::string> explicit_file;
  Environment env;  // EnvironmentSnapshot(), or a test's
  // The flags, applied last and in order, as SetFromFlag() applies one.
  std::vector<ConfigFlag> flags;
};

struct Config {
  std::string repo_root;                    // "" = the git top level of the working directory
  std::string models_dir = ".test-models";  // relative = relative to repo_root; never ""
  std::string state_dir;                    // "" = DefaultStateDir()
  std::string catalog;                      // "" = the built-in catalog
  // The catalog's lock file (agent/models/catalog_lock.h); "" = beside `catalog`, none for the
  // built-in catalog.
  std::string catalog_lock;
  struct Agent {
    std::string address;              // "unix:PATH" or "HOST:PORT" for the CLI; "" = default
    std::vector<std::string> listen;  // where pool-agent listens; empty = default socket
    std::string log_level = "info";   // trace, debug, info, warn, error, off
    std::string log_format = "text";  // text (journald-friendly) | json (one object a line)
    std::string socket_group;         // the unix sockets' group; "" = the agent's own group
    // A unix socket whose callers are all read-only (gRPC 1.51 gives no peer uid), and its group.
    std::string read_only_socket;  // "" = none
    std::string read_only_group;   // "" = the agent's own group
    // Bearer tokens TCP listeners accept (docs/security.md): files of mode o-rwx. "" = none.
    std::string admin_token_file;
    std::string read_only_token_file;
    // TLS on TCP listeners (PEM files, reloaded when they change); "" = plaintext.
    std::string tls_cert_file;
    std::string tls_key_file;
    std::string tls_client_ca_file;              // "" = no client certificates; else required
    std::string client_cert_role = "read-only";  // read-only | admin: a certificate without token
    int64_t tls_reload_seconds = 60;             // how often the files are checked for changes
    // Streaming calls (watches, log follows, operations' streams) one peer may have open.
    int64_t max_streams_per_peer = 32;
  } agent;
  struct Client {
    std::string output = "table";  // table | wide | json
    std::string color = "auto";    // auto | always | never
    std::string token_file;        // the token sent to an agent over TCP; "" = none
    std::string tls_ca_file;       // TLS to the agent: the CA that signed its certificate
    std::string tls_cert_file;     // mutual TLS: this client's certificate and key
    std::string tls_key_file;
  } client;
  struct Download {
    std::string backend = "native";      // native (the agent's own Hub client) | hf (the `hf` CLI)
    std::string hf_command = "hf";       // the `hf` CLI: a name in PATH or a path
    int64_t connections = 8;             // parallel connections for one large file, 1..64
    int64_t parallel_min_mib = 64;       // files at least this big download in parallel parts
    int64_t stall_timeout_seconds = 30;  // no byte for this long: reconnect
    int64_t max_attempts = 8;  // failed requests in a row (without progress) before giving up
  } download;
  struct Git {
    std::string pull_mode = "rebase";  // rebase (as the bash script did) | ff-only | merge
    std::string sync_branch = "main";  // `git sync` resets to origin/<this>
  } git;
  struct Convert {
    std::string python = "python3";  // runs the catalog's converter scripts: name in PATH or path
  } convert;
  // How one backend's worker is started, found ready and stopped.
  struct WorkerBackend {
    // argv[0] is the program (a name in PATH or a path); placeholders {worker_id}, {model_path},
    // {gpu}, {port} and {callback_url} are replaced in every element.
    std::vector<std::string> argv;
    std::string ready = "callback";      // callback (its POST to the agent) | health (GET /health)
    std::string stop_signal = "SIGINT";  // llorch-candled stops gracefully only on SIGINT
  };
  struct Workers {
    std::string default_model;     // catalog id spawned when none is given; "" = none
    int64_t port_first = 8001;     // default worker ports: the first free one in [first, last],
    int64_t port_last = 8999;      // skipping the kernel's ephemeral range
    int64_t callback_port = 9201;  // the agent's loopback ready-callback listener
    int64_t ready_timeout_seconds = 300;
    int64_t stop_timeout_seconds = 30;  // `worker stop`: from the stop signal to SIGKILL
    // A live worker's log is rotated (copied to <id>.log.1, then truncated) once it is bigger
    // than log_max_bytes; log_max_files rotated copies are kept (as the kubelet's
    // containerLogMaxSize and containerLogMaxFiles).
    int64_t log_max_bytes = 10 << 20;
    int64_t log_max_files = 3;
    // Restart on-failure: the first delay, doubling up to the maximum; more than `burst` starts
    // within the interval and the agent gives up.
    int64_t restart_backoff_initial_ms = 1000;
    int64_t restart_backoff_max_ms = 60000;
    int64_t start_limit_burst = 5;
    int64_t start_limit_interval_seconds = 300;
    WorkerBackend cpu{{"llorch-cpu-candled", "--worker-id", "{worker_id}", "--model",
                       "{model_path}", "--port", "{port}", "--callback-url", "{callback_url}"}};
    WorkerBackend cuda{{"llorch-cuda-candled", "--worker-id", "{worker_id}", "--model",
                        "{model_path}", "--port", "{port}", "--callback-url", "{callback_url}",
                        "--cuda-device", "{gpu}"}};
    WorkerBackend metal{{"llorch-metal-candled", "--worker-id", "{worker_id}", "--model",
                         "{model_path}", "--port", "{port}", "--callback-url", "{callback_url}",
                         "--metal-device", "{gpu}"}};
  } workers;

  // For every key, the layer that set its value last: "default", a file path,
  // "env LLORCH_MODELS_DIR", "flag --models-dir". Keys are dotted: "agent.listen".
  std::map<std::string, std::string> origin = config_internal::DefaultOrigins();
  // For keys whose origin is a file: the 1-based line that set the value.
  std::map<std::string, int> origin_line;
  // The layers LoadConfig() walked to make this configuration, so that `dev check-config` can
  // walk the very same ones again.
  ConfigSources sources;
};

// Applies defaults, the files, the environment and sources.flags, in that order; the first layer
// with a problem is the error (every problem of that layer, one per line). The result remembers
// `sources`.
absl::StatusOr<Config> LoadConfig(const ConfigSources& sources);

// Applies one TOML document named `source_name` (its path: used in messages and as the origin)
// on top of `config`. On error `config` is unchanged.
absl::Status MergeConfigText(absl::string_view toml_text, absl::string_view source_name,
                             Config* config);

// Applies LLORCH_REPO_ROOT, LLORCH_MODEL_BASE_DIR (legacy), LLORCH_MODELS_DIR, LLORCH_STATE_DIR,
// LLORCH_CATALOG, LLORCH_AGENT, LLORCH_LOG_LEVEL, LLORCH_TOKEN_FILE and NO_COLOR (color = never).
// Empty variables count as unset. On error `config` is unchanged.
absl::Status MergeEnvironment(const Environment& env, Config* config);

// Sets `key` (dotted) from the command-line flag `flag` ("--models-dir"), validated like a file
// value; the origin becomes "flag --models-dir". A list key given one string gets a one-element
// list. Bad values, and an empty one (`--agent ""`: a flag is given to set something), are
// InvalidArgument and leave `config` unchanged; an unknown key or a list given to a string key is
// Internal (a bug in the caller). E.g. --no-color is
// SetFromFlag(&config, "client.color", "never", "--no-color").
absl::Status SetFromFlag(Config* config, absl::string_view key, absl::string_view value,
                         absl::string_view flag);
absl::Status SetFromFlag(Config* config, absl::string_view key,
                         const std::vector<std::string>& values, absl::string_view flag);

// One string flag that sets a configuration key.
struct FlagValue {
  const char* key;                   // e.g. "models_dir"
  const char* flag;                  // e.g. "--models-dir"
  std::optional<std::string> value;  // nullopt: not given
};
// Applies each given flag with SetFromFlag; stops at the first invalid value.
absl::Status SetFromFlags(Config* config, const std::vector<FlagValue>& flags);
// Appends the given ones of `flags` to sources->flags (for LoadConfig to apply).
void AddFlags(ConfigSources* sources, const std::vector<FlagValue>& flags);

// The value of `key` rendered as TOML, e.g. "\"info\"" or "[\"unix:/x\"]"; "" for unknown keys.
std::string ConfigValueAsToml(const Config& config, absl::string_view key);

// For `llorch-pool dev check-config`: problems found without stopping at the first.
struct ConfigProblem {
  enum class Severity { kError, kWarning };
  std::string source;   // file path, "env NAME", "flag --name" or "default"
  int line = 0;         // 1-based; 0 when not tied to a line
  int column = 0;       // 1-based; set for TOML syntax errors only
  std::string message;  // without the location: "unknown key 'x' (did you mean 'y'?)"
  std::string fix{};    // what to do: "rename it to 'models_dir'"
  Severity severity = Severity::kError;  // the loader's problems are all errors
  std::string key{};                     // the dotted key concerned; "" when none
};

// "source:line:column: message", leaving out what is 0.
std::string FormatConfigProblem(const ConfigProblem& problem);

// The files LoadConfig() reads, lowest layer first: system, user, --config (empty ones left out).
std::vector<std::string> ConfigFilePaths(const ConfigSources& sources);

// The layers, lowest first (as ConfigLayer in dev.proto).
enum class ConfigLayer { kDefault, kSystemFile, kUserFile, kConfigFile, kEnv, kFlag };

// A configuration file a walk read, or would have read had it existed.
struct ConfigFileState {
  std::string path;
  ConfigLayer layer;
  bool exists = false;
};

// What one walk of the layers found.
struct ConfigWalk {
  // The configuration the layers make. When there are problems, the values of the lines (and
  // variables and flags) without one are applied when walking on, none of the failing layer's
  // otherwise.
  Config config;
  std::vector<ConfigFileState> files;   // system, user, --config (when given)
  std::vector<ConfigProblem> problems;  // every problem met, in layer order
  absl::Status first_error;             // LoadConfig's error: the first failing layer's
};

// Walks defaults, files, environment and flags. With `keep_going` false it stops at the first
// layer with a problem (LoadConfig); with true it walks every layer (`dev check-config`).
ConfigWalk WalkConfigLayers(const ConfigSources& sources, bool keep_going);

// The layer of an origin string (Config::origin) in `walk`: files by their path (the highest
// layer holding that path).
ConfigLayer LayerOfOrigin(const ConfigWalk& walk, absl::string_view origin);

// Every problem of one TOML document (sorted by position); empty when it is valid.
std::vector<ConfigProblem> CheckConfigText(absl::string_view toml_text,
                                           absl::string_view source_name);

// The same for a file. A missing file is a problem only when `must_exist`.
std::vector<ConfigProblem> CheckConfigFile(const std::string& path, bool must_exist);

}  // namespace llorch

#endif  // LLORCH_COMMON_CONFIG_H_
