#include "agent/dev/config_check.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <tuple>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/models/builtin_catalog.h"
#include "agent/models/catalog.h"
#include "agent/models/catalog_lock.h"
#include "common/address.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "common/tls_files.h"
#include "common/token_file.h"
#include "common/worker_template.h"

namespace llorch {
namespace fs = std::filesystem;
namespace v1 = pool::v1;
namespace {

using Severity = ConfigProblem::Severity;

// Collects findings, each pointing to where its key was set last.
class Findings {
 public:
  explicit Findings(const Config& config) : config_(config) {}

  void Add(const std::string& key, Severity severity, std::string message, std::string fix) {
    ConfigProblem problem;
    auto origin = config_.origin.find(key);
    problem.source = origin == config_.origin.end() ? "default" : origin->second;
    auto line = config_.origin_line.find(key);
    problem.line = line == config_.origin_line.end() ? 0 : line->second;
    problem.message = std::move(message);
    problem.fix = std::move(fix);
    problem.severity = severity;
    problem.key = key;
    problems_.push_back(std::move(problem));
  }
  void Error(const std::string& key, std::string message, std::string fix) {
    Add(key, Severity::kError, std::move(message), std::move(fix));
  }
  void Warning(const std::string& key, std::string message, std::string fix) {
    Add(key, Severity::kWarning, std::move(message), std::move(fix));
  }

  bool IsDefault(const std::string& key) const {
    auto origin = config_.origin.find(key);
    return origin == config_.origin.end() || origin->second == "default";
  }

  std::vector<ConfigProblem> Take() { return std::move(problems_); }

 private:
  const Config& config_;
  std::vector<ConfigProblem> problems_;
};

bool Writable(const fs::path& dir) { return access(dir.c_str(), W_OK | X_OK) == 0; }

// A directory the agent works in and creates when first needed: when it exists it must be a
// directory the agent may write; when not, its nearest existing ancestor must be one.
void CheckWorkDirectory(Findings& findings, const std::string& key, const std::string& path,
                        uid_t uid) {
  std::error_code ec;
  const fs::file_status status = fs::status(path, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) {
      findings.Error(key, absl::StrCat(key, " ", path, " is not a directory"),
                     absl::StrCat("move that file away, or set ", key, " to a directory"));
    } else if (!Writable(path)) {
      findings.Error(key,
                     absl::StrCat(key, " ", path, " is not writable by this agent (uid ", uid,
                                  "): ", std::strerror(errno)),
                     absl::StrCat("give it to uid ", uid, " (chown), or set ", key,
                                  " to a directory it may write"));
    }
    return;
  }
  fs::path ancestor = fs::path(path).parent_path();
  while (!ancestor.empty() && !fs::exists(ancestor, ec) && ancestor != ancestor.parent_path()) {
    ancestor = ancestor.parent_path();
  }
  if (!fs::is_directory(ancestor, ec)) {
    findings.Error(key,
                   absl::StrCat(key, " ", path, " cannot be created: ", ancestor.string(),
                                " is not a directory"),
                   absl::StrCat("set ", key, " to a path below a directory"));
  } else if (!Writable(ancestor)) {
    findings.Error(
        key,
        absl::StrCat(key, " ", path, " does not exist and cannot be created: ", ancestor.string(),
                     " is not writable by this agent (uid ", uid, ")"),
        absl::StrCat("create it as a user who may (mkdir -p ", path, ") and give it to uid ", uid,
                     ", or set ", key, " to a directory this agent may write"));
  }
}

// The checkout: repo_root when set (it must be a directory), else the git top level of the
// working directory; "" when there is none.
std::string CheckRepoRoot(Findings& findings, const Config& config, const ConfigHostFacts& host) {
  if (config.repo_root.empty()) {
    absl::StatusOr<std::string> top = FindGitTopLevel(host.working_dir);
    return top.ok() ? *top : "";
  }
  const std::string root = ResolvePath(config.repo_root, host.working_dir);
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    findings.Error("repo_root",
                   absl::StrCat("repo_root ", root,
                                fs::exists(root, ec) ? " is not a directory" : " does not exist"),
                   "set repo_root to the llorch checkout, or leave it out to use the git top "
                   "level of the working directory");
    return "";
  }
  if (!FindGitTopLevel(root).ok()) {
    findings.Warning("repo_root",
                     absl::StrCat("repo_root ", root,
                                  " is not inside a git checkout: `llorch-pool git` commands "
                                  "refuse it"),
                     "point repo_root at the llorch checkout (a directory with .git)");
  }
  return root;
}

// The catalog the agent would load, and workers.default_model in it.
void CheckCatalog(Findings& findings, const Config& config, const ConfigHostFacts& host) {
  absl::StatusOr<Catalog> catalog =
      config.catalog.empty() ? Catalog::Parse(BuiltInCatalogText(), kBuiltInCatalogName)
                             : Catalog::LoadFile(ResolvePath(config.catalog, host.working_dir));
  if (!catalog.ok()) {
    findings.Error("catalog", std::string(catalog.status().message()),
                   GetHint(catalog.status())
                       .value_or("set catalog to a catalog file, or leave it out for the "
                                 "built-in catalog"));
    return;
  }
  const std::string lock_path = ConfiguredLockPath(
      config.catalog.empty() ? "" : ResolvePath(config.catalog, host.working_dir),
      config.catalog_lock.empty() ? "" : ResolvePath(config.catalog_lock, host.working_dir));
  if (absl::StatusOr<CatalogLock> lock = CatalogLock::LoadFile(lock_path, *catalog);
      !lock_path.empty() && !lock.ok()) {
    findings.Error(config.catalog_lock.empty() ? "catalog" : "catalog_lock",
                   std::string(lock.status().message()),
                   GetHint(lock.status())
                       .value_or("fix the lock file as the message says, or delete it and pin "
                                 "again with `llorch-pool models lock`"));
  }
  const std::string& model = config.workers.default_model;
  if (model.empty() || catalog->Find(model) != nullptr) return;
  std::vector<std::string> ids;
  for (const CatalogModel& entry : catalog->models()) ids.push_back(entry.id);
  findings.Error("workers.default_model",
                 absl::StrCat("workers.default_model '", model, "' is not in the catalog",
                              DidYouMean(model, ids)),
                 absl::StrCat("use one of: ", absl::StrJoin(ids, ", "),
                              " (`llorch-pool models catalog` lists them)"));
}

// The programs the configuration names, where they are used.
void CheckPrograms(Findings& findings, const Config& config, const ConfigHostFacts& host) {
  if (config.download.backend == "hf" &&
      !FindExecutable(config.download.hf_command, host.path_env)) {
    findings.Error("download.hf_command",
                   absl::StrCat("download.backend is \"hf\" but download.hf_command '",
                                config.download.hf_command,
                                "' is not an executable in PATH: every download fails"),
                   "pipx install 'huggingface_hub[cli]' (or set download.hf_command to its "
                   "path), or set download.backend = \"native\", which needs no program");
  }
  if (!FindExecutable(config.convert.python, host.path_env)) {
    findings.Warning("convert.python",
                     absl::StrCat("convert.python '", config.convert.python,
                                  "' is not an executable in PATH: models that need converting "
                                  "cannot be downloaded"),
                     "install python3 (apt install python3), or set convert.python to its path");
  }
}

// The first flag of the built-in template that takes {name}, e.g. "--port".
std::string DefaultFlagFor(absl::string_view backend, absl::string_view name) {
  const Config defaults;
  const std::vector<std::string>& argv = backend == "cpu"    ? defaults.workers.cpu.argv
                                         : backend == "cuda" ? defaults.workers.cuda.argv
                                                             : defaults.workers.metal.argv;
  const std::string braced = absl::StrCat("{", name, "}");
  for (size_t i = 1; i < argv.size(); ++i) {
    if (argv[i] == braced) return argv[i - 1];
  }
  return "";
}

void CheckWorkerTemplates(Findings& findings, const Config& config, const ConfigHostFacts& host) {
  const std::pair<const char*, const Config::WorkerBackend*> backends[] = {
      {"cpu", &config.workers.cpu},
      {"cuda", &config.workers.cuda},
      {"metal", &config.workers.metal}};
  for (const auto& [name, backend] : backends) {
    const std::string key = absl::StrCat("workers.", name, ".argv");
    for (const MissingPlaceholder& missing : MissingWorkerPlaceholders(name, *backend)) {
      const std::string flag = DefaultFlagFor(name, missing.name);
      findings.Add(
          key, missing.required ? Severity::kError : Severity::kWarning,
          absl::StrCat(key, " lacks the placeholder {", missing.name, "}: ", missing.why),
          flag.empty()
              ? absl::StrCat("add \"{", missing.name, "}\" where the worker takes it")
              : absl::StrCat("add the worker's flag and the placeholder: \"", flag, "\", \"{",
                             missing.name, "}\" (as the default template does)"));
    }
    // Only a template someone configured: the defaults name workers this host may not run
    // (`dev doctor` reports the worker binaries).
    if (!findings.IsDefault(key) && !backend->argv.empty() &&
        !FindExecutable(backend->argv.front(), host.path_env)) {
      findings.Warning(
          key,
          absl::StrCat(key, ": the worker program '", backend->argv.front(),
                       "' is not an executable in PATH: spawning a ", name, " worker fails"),
          "install it, or give its path as the first element of argv");
    }
  }
}

bool InRange(int port, std::pair<int, int> range) {
  return port >= range.first && port <= range.second;
}

// A port a listener of the agent binds: free, or held by this agent already.
void CheckListenerPort(Findings& findings, const std::string& key, int port, absl::string_view what,
                       const ConfigHostFacts& host) {
  if (port == 0 || host.own_ports.count(port) > 0 || !host.port_free || host.port_free(port)) {
    return;
  }
  findings.Add(key, host.in_process ? Severity::kWarning : Severity::kError,
               absl::StrCat(key, ": port ", port, " (", what, ") is in use by another process",
                            host.in_process ? " (a running pool-agent, perhaps)" : ""),
               absl::StrCat("find it with `ss -ltnp 'sport = :", port,
                            "'` and stop it, or choose another port"));
}

void CheckPorts(Findings& findings, const Config& config, const ConfigHostFacts& host) {
  const int first = static_cast<int>(config.workers.port_first);
  const int last = static_cast<int>(config.workers.port_last);
  const auto [low, high] = host.ephemeral_ports;
  const std::string range_key =
      findings.IsDefault("workers.port_first") && !findings.IsDefault("workers.port_last")
          ? "workers.port_last"
          : "workers.port_first";
  const std::string ephemeral = absl::StrCat("the kernel's ephemeral range ", low, "-", high,
                                             " (/proc/sys/net/ipv4/ip_local_port_range)");
  if (first > last) {
    findings.Error(range_key,
                   absl::StrCat("workers.port_first ", first, " is above workers.port_last ", last,
                                ": no default worker port can be chosen"),
                   "swap them, e.g. port_first = 8001 and port_last = 8999, the defaults");
  } else if (first >= low && last <= high) {
    findings.Error(
        range_key,
        absl::StrCat("the worker port range ", first, "-", last, " lies inside ", ephemeral,
                     ": every port there is skipped, so no default worker port can "
                     "be chosen"),
        absl::StrCat("choose a range below ", low, " or above ", high,
                     ", e.g. port_first = 8001 and port_last = 8999, the defaults"));
  } else if (std::max(first, low) <= std::min(last, high)) {
    findings.Warning(range_key,
                     absl::StrCat("ports ", std::max(first, low), "-", std::min(last, high),
                                  " of the worker port range ", first, "-", last, " lie in ",
                                  ephemeral, " and are skipped"),
                     absl::StrCat("keep the range below ", low, " or above ", high));
  }

  const int callback = static_cast<int>(config.workers.callback_port);
  if (InRange(callback, host.ephemeral_ports)) {
    findings.Warning("workers.callback_port",
                     absl::StrCat("workers.callback_port ", callback, " lies in ", ephemeral,
                                  ": an outgoing connection may take it before the listener "
                                  "starts"),
                     absl::StrCat("choose a port below ", low, ", e.g. 9201, the default"));
  }
  if (first <= last && InRange(callback, {first, last})) {
    findings.Warning(
        "workers.callback_port",
        absl::StrCat("workers.callback_port ", callback, " lies in the worker port range ", first,
                     "-", last, ": a worker may be given it before the listener starts"),
        "choose a port outside the worker port range, e.g. 9201, the default");
  }
  CheckListenerPort(findings, "workers.callback_port", callback,
                    "the ready-callback listener on 127.0.0.1", host);
  for (const std::string& text : config.agent.listen) {
    absl::StatusOr<Address> address = ParseAddress(text);
    if (!address.ok() || address->kind != Address::Kind::kTcp) continue;
    CheckListenerPort(findings, "agent.listen", address->port,
                      absl::StrCat("the agent's listener ", text), host);
  }
}

void CheckRestartBackoff(Findings& findings, const Config& config) {
  if (config.workers.restart_backoff_initial_ms <= config.workers.restart_backoff_max_ms) return;
  findings.Warning(
      "workers.restart_backoff_initial_ms",
      absl::StrCat("workers.restart_backoff_initial_ms ", config.workers.restart_backoff_initial_ms,
                   " is above workers.restart_backoff_max_ms ",
                   config.workers.restart_backoff_max_ms, ": every restart waits the maximum"),
      "make the initial delay at most the maximum");
}

// A finding from a file check's status: its message, its hint as the fix. A file this user may
// not read is only a warning in the CLI's in-process agent: the agent proper may run as another
// user (root) who can.
void AddFileProblem(Findings& findings, const std::string& key, const absl::Status& status,
                    const ConfigHostFacts& host, Severity severity = Severity::kError) {
  const bool unreadable_here = absl::IsPermissionDenied(status) && host.in_process;
  findings.Add(key, unreadable_here ? Severity::kWarning : severity,
               unreadable_here ? absl::StrCat(status.message(), " (by this user, uid ", host.uid,
                                              "; the agent may run as another)")
                               : std::string(status.message()),
               GetHint(status).value_or(
                   "see docs/security.md; docs/api.md (\"Certificates and tokens\") makes the "
                   "files"));
}

// The token files: each as the agent (or the CLI) reads it, and the two roles' tokens differ.
void CheckTokenFiles(Findings& findings, const Config& config, const ConfigHostFacts& host) {
  const std::pair<const char*, const std::string*> files[] = {
      {"agent.admin_token_file", &config.agent.admin_token_file},
      {"agent.read_only_token_file", &config.agent.read_only_token_file},
      {"client.token_file", &config.client.token_file}};
  std::string admin;
  for (const auto& [key, file] : files) {
    if (file->empty()) continue;
    absl::StatusOr<std::string> token = ReadTokenFile(ResolvePath(*file, host.working_dir), key);
    if (!token.ok()) {
      AddFileProblem(findings, key, token.status(), host);
    } else if (file == &config.agent.admin_token_file) {
      admin = *token;
    } else if (file == &config.agent.read_only_token_file && !admin.empty() &&
               ConstantTimeEquals(admin, *token)) {
      findings.Error(key,
                     "agent.admin_token_file and agent.read_only_token_file hold the same token: "
                     "the read-only role would be an admin, and the agent refuses to start",
                     "make a separate token for each role: (umask 077; openssl rand -hex 32 > "
                     "FILE)");
    }
  }
}

// One side's TLS files: a certificate chain and its key, and a CA (the agent's client CA, the
// CLI's CA of the agent), with the setting that names each; "" = not set.
struct TlsSide {
  const char* cert_key;
  const std::string& cert;
  const char* key_key;
  const std::string& key;
  const char* ca_key;
  const std::string& ca;
  Severity readable_key;  // a key others may read: the agent refuses it, the CLI does not
};

void CheckTlsSide(Findings& findings, const TlsSide& side, const ConfigHostFacts& host) {
  auto resolve = [&](const std::string& path) { return ResolvePath(path, host.working_dir); };
  if (side.cert.empty() != side.key.empty()) {
    const char* set = side.cert.empty() ? side.key_key : side.cert_key;
    const char* missing = side.cert.empty() ? side.cert_key : side.key_key;
    findings.Error(set, absl::StrCat(set, " is set without ", missing, ": TLS needs both"),
                   absl::StrCat("set ", missing, " too, or neither"));
    return;
  }
  bool pair_readable = !side.cert.empty();
  const std::tuple<const char*, const std::string*, bool> files[] = {
      {side.cert_key, &side.cert, false},
      {side.key_key, &side.key, true},
      {side.ca_key, &side.ca, false}};
  for (const auto& [key, file, secret] : files) {
    if (file->empty()) continue;
    absl::Status status = CheckPemFile(resolve(*file), key, /*secret=*/false);
    if (status.ok() && secret) {
      status = CheckPemFile(resolve(*file), key, /*secret=*/true);
      if (!status.ok()) {
        AddFileProblem(findings, key, status, host, side.readable_key);
        status = absl::OkStatus();  // readable all the same: go on to the pair
      }
    } else if (status.ok()) {
      status = CheckCertificates(resolve(*file), key);
      if (absl::IsFailedPrecondition(status)) {  // expired or not yet valid: served all the same
        AddFileProblem(findings, key, status, host, Severity::kWarning);
        status = absl::OkStatus();
      }
    }
    if (!status.ok()) {
      AddFileProblem(findings, key, status, host);
      if (file != &side.ca) pair_readable = false;
    }
  }
  if (!pair_readable) return;
  if (absl::Status status = CheckKeyMatchesCertificate(resolve(side.cert), side.cert_key,
                                                       resolve(side.key), side.key_key);
      !status.ok()) {
    AddFileProblem(findings, side.key_key, status, host);
  }
}

void CheckTlsFiles(Findings& findings, const Config& config, const ConfigHostFacts& host) {
  if (!config.agent.tls_client_ca_file.empty() && config.agent.tls_cert_file.empty()) {
    findings.Error("agent.tls_client_ca_file",
                   "agent.tls_client_ca_file is set without agent.tls_cert_file and "
                   "agent.tls_key_file: client certificates need TLS",
                   "set the server's certificate and key too (docs/security.md)");
  }
  CheckTlsSide(findings,
               {"agent.tls_cert_file", config.agent.tls_cert_file, "agent.tls_key_file",
                config.agent.tls_key_file, "agent.tls_client_ca_file",
                config.agent.tls_client_ca_file, Severity::kError},
               host);
  if (config.client.tls_ca_file.empty() && !config.client.tls_cert_file.empty()) {
    findings.Error("client.tls_cert_file",
                   "client.tls_cert_file is set without client.tls_ca_file: the CLI uses a client "
                   "certificate only over TLS",
                   "set client.tls_ca_file to the CA that signed the agent's certificate");
  }
  CheckTlsSide(findings,
               {"client.tls_cert_file", config.client.tls_cert_file, "client.tls_key_file",
                config.client.tls_key_file, "client.tls_ca_file", config.client.tls_ca_file,
                Severity::kWarning},
               host);
}

v1::ConfigLayer LayerToProto(ConfigLayer layer) {
  switch (layer) {
    case ConfigLayer::kDefault:
      return v1::CONFIG_LAYER_DEFAULT;
    case ConfigLayer::kSystemFile:
      return v1::CONFIG_LAYER_SYSTEM_FILE;
    case ConfigLayer::kUserFile:
      return v1::CONFIG_LAYER_USER_FILE;
    case ConfigLayer::kConfigFile:
      return v1::CONFIG_LAYER_CONFIG_FILE;
    case ConfigLayer::kEnv:
      return v1::CONFIG_LAYER_ENV;
    case ConfigLayer::kFlag:
      return v1::CONFIG_LAYER_FLAG;
  }
  return v1::CONFIG_LAYER_UNSPECIFIED;
}

void ProblemToProto(const ConfigProblem& problem, v1::ConfigProblem* out) {
  out->set_path(problem.source);
  out->set_line(static_cast<uint32_t>(problem.line));
  out->set_column(static_cast<uint32_t>(problem.column));
  out->set_message(problem.message);
  out->set_fix(problem.fix);
  out->set_key(problem.key);
  out->set_severity(problem.severity == Severity::kError ? v1::CONFIG_SEVERITY_ERROR
                                                         : v1::CONFIG_SEVERITY_WARNING);
}

}  // namespace

std::vector<ConfigProblem> CheckConfigOnHost(const Config& config, const ConfigHostFacts& host) {
  Findings findings(config);
  const std::string repo_root = CheckRepoRoot(findings, config, host);
  CheckWorkDirectory(
      findings, "models_dir",
      ResolveModelsDir(config, repo_root, host.working_dir, config.sources.env, host.uid),
      host.uid);
  CheckWorkDirectory(findings, "state_dir",
                     config.state_dir.empty() ? DefaultStateDir(config.sources.env, host.uid)
                                              : ResolvePath(config.state_dir, host.working_dir),
                     host.uid);
  CheckCatalog(findings, config, host);
  CheckPrograms(findings, config, host);
  CheckWorkerTemplates(findings, config, host);
  CheckPorts(findings, config, host);
  CheckRestartBackoff(findings, config);
  CheckTokenFiles(findings, config, host);
  CheckTlsFiles(findings, config, host);
  return findings.Take();
}

v1::CheckConfigResponse CheckConfiguration(const ConfigSources& sources,
                                           const ConfigHostFacts& host) {
  ConfigWalk walk = WalkConfigLayers(sources, /*keep_going=*/true);
  std::vector<ConfigProblem> problems = std::move(walk.problems);
  for (ConfigProblem& problem : CheckConfigOnHost(walk.config, host)) {
    problems.push_back(std::move(problem));
  }

  v1::CheckConfigResponse response;
  for (const ConfigFileState& file : walk.files) {
    v1::ConfigFile* out = response.add_files();
    out->set_path(file.path);
    out->set_exists(file.exists);
    out->set_layer(LayerToProto(file.layer));
  }
  // A file's problems go to the file (the highest layer of that path); the rest stay apart.
  std::vector<const ConfigProblem*> by_line;
  for (const ConfigProblem& problem : problems) by_line.push_back(&problem);
  std::stable_sort(by_line.begin(), by_line.end(),
                   [](const ConfigProblem* a, const ConfigProblem* b) {
                     return std::tie(a->line, a->column) < std::tie(b->line, b->column);
                   });
  for (const ConfigProblem* problem : by_line) {
    v1::ConfigFile* home = nullptr;
    for (int i = response.files_size() - 1; i >= 0 && home == nullptr; --i) {
      if (response.files(i).path() == problem->source) home = response.mutable_files(i);
    }
    if (home != nullptr) ProblemToProto(*problem, home->add_problems());
  }
  for (const ConfigProblem& problem : problems) {
    bool in_file = false;
    for (const v1::ConfigFile& file : response.files()) in_file |= file.path() == problem.source;
    if (!in_file) ProblemToProto(problem, response.add_problems());
    if (problem.severity == Severity::kError) {
      response.set_errors(response.errors() + 1);
    } else {
      response.set_warnings(response.warnings() + 1);
    }
  }
  for (v1::ConfigFile& file : *response.mutable_files()) {
    bool ok = true;
    for (const v1::ConfigProblem& problem : file.problems()) {
      ok &= problem.severity() != v1::CONFIG_SEVERITY_ERROR;
    }
    file.set_ok(ok);
  }

  std::vector<std::string> keys = ConfigKeys();
  std::sort(keys.begin(), keys.end());
  for (const std::string& key : keys) {
    v1::ConfigValue* value = response.add_values();
    value->set_key(key);
    value->set_value(ConfigValueAsToml(walk.config, key));
    const std::string& origin = walk.config.origin.at(key);
    value->set_origin(origin);
    value->set_layer(LayerToProto(LayerOfOrigin(walk, origin)));
    auto line = walk.config.origin_line.find(key);
    if (line != walk.config.origin_line.end()) value->set_line(static_cast<uint32_t>(line->second));
  }
  response.set_ok(response.errors() == 0);
  return response;
}

}  // namespace llorch
