// pool-agent: the per-host daemon serving the llorch.pool.v1 gRPC API. See README.md.
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <optional>
#include <thread>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/ops/cancel_cause.h"
#include "agent/server/agent_context.h"
#include "agent/server/agent_server.h"
#include "common/address.h"
#include "common/config.h"
#include "common/logging.h"
#include "common/paths.h"
#include "common/standard_fds.h"
#include "common/status.h"
#include "common/version.h"
#include "spdlog/spdlog.h"

namespace llorch {
namespace {

constexpr char kExamples[] = R"(Examples:
  pool-agent                                    listen on the default unix socket
  pool-agent --listen unix:/run/llorch/pool-agent.sock --listen 127.0.0.1:9200
  pool-agent --config /etc/llorch/pool.toml --log-level debug
  pool-agent --log-format json                  one JSON object a line: operations, workers, models
  pool-agent --listen 127.0.0.1:9200 --admin-token-file /etc/llorch/admin.token \
             --read-only-token-file /etc/llorch/read-only.token

Every TCP listener, loopback included, requires a bearer token or (with --tls-client-ca) a
verified client certificate, unless --insecure is given; a non-loopback one requires TLS
(--tls-cert, --tls-key). The unix socket is guarded by its mode (0660) and group. See
docs/security.md.

Default socket: $XDG_RUNTIME_DIR/llorch/pool-agent.sock, else /run/llorch/pool-agent.sock as root
and ${TMPDIR:-/tmp}/llorch-<uid>/pool-agent.sock for other users; its directory must be the
agent's user's or root's, and writable by nobody else.
Stops gracefully on SIGTERM or SIGINT. Exit codes: 0 ok, 1 failed, 2 bad usage or input.)";

struct Flags {
  std::vector<std::string> listen;
  std::optional<std::string> config_file;
  std::optional<std::string> catalog;  // nullopt: not given
  std::optional<std::string> models_dir;
  std::optional<std::string> repo_root;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  std::optional<std::string> admin_token_file;
  std::optional<std::string> read_only_token_file;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  std::optional<std::string> tls_client_ca;
  bool insecure = false;
};

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "error: %s\n", std::string(status.message()).c_str());
  if (std::optional<std::string> hint = GetHint(status)) {
    std::fprintf(stderr, "hint: %s\n", hint->c_str());
  }
  return status.code() == absl::StatusCode::kInvalidArgument ||
                 status.code() == absl::StatusCode::kNotFound
             ? 2
             : 1;
}

int Serve(const Flags& flags) {
  ConfigSources sources;
  sources.explicit_file = flags.config_file;
  sources.env = EnvironmentSnapshot();
  if (!flags.listen.empty()) sources.flags.push_back({"agent.listen", "--listen", flags.listen});
  AddFlags(&sources,
           {{"catalog", "--catalog", flags.catalog},
            {"models_dir", "--models-dir", flags.models_dir},
            {"repo_root", "--repo-root", flags.repo_root},
            {"agent.log_level", "--log-level", flags.log_level},
            {"agent.log_format", "--log-format", flags.log_format},
            {"agent.admin_token_file", "--admin-token-file", flags.admin_token_file},
            {"agent.read_only_token_file", "--read-only-token-file", flags.read_only_token_file},
            {"agent.tls_cert_file", "--tls-cert", flags.tls_cert},
            {"agent.tls_key_file", "--tls-key", flags.tls_key},
            {"agent.tls_client_ca_file", "--tls-client-ca", flags.tls_client_ca}});
  absl::StatusOr<Config> config = LoadConfig(sources);
  if (!config.ok()) return Fail(config.status());
  if (absl::Status status = SetupLogging(config->agent.log_level, config->agent.log_format);
      !status.ok()) {
    return Fail(status);
  }

  std::vector<std::string> listen = config->agent.listen;
  if (listen.empty()) listen.push_back("unix:" + DefaultSocketPath(sources.env, getuid()));
  std::vector<Address> addresses;
  for (const std::string& text : listen) {
    absl::StatusOr<Address> address = ParseAddress(text);
    if (!address.ok()) return Fail(address.status());
    addresses.push_back(*address);
  }
  absl::StatusOr<std::shared_ptr<const AgentContext>> context =
      AgentContext::Create(*config, std::filesystem::current_path(), /*in_process=*/false);
  if (!context.ok()) return Fail(context.status());

  // Signals are taken by a dedicated thread with sigwait, so block them before gRPC starts its
  // threads (they inherit the mask).
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  if (flags.insecure) {
    spdlog::warn(
        "--insecure: TCP listeners are allowed without a token or client certificate, and on "
        "any address without TLS; anyone who reaches one may control this host's models, "
        "checkout and workers (docs/security.md)");
  }
  absl::StatusOr<std::unique_ptr<AgentServer>> server =
      AgentServer::Start(*context, addresses, flags.insecure);
  if (!server.ok()) return Fail(server.status());
  spdlog::info("pool-agent {} serving {} on {} (models: {}, repo: {})", kVersion, kApiVersion,
               absl::StrJoin((*server)->BoundAddresses(), ", "), (*context)->models_dir.string(),
               (*context)->repo_root.empty() ? "none" : (*context)->repo_root.string());

  std::thread signal_thread([&server, &context, signals] {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
    const char* const signal_name = signal_number == SIGTERM ? "SIGTERM" : "SIGINT";
    spdlog::info("received {}, shutting down", signal_name);
    // Health first: probes and load balancers learn it while everything still answers.
    (*server)->StopServing();
    // Then operations, so that their watchers see them end CANCELLED (partial downloads stay
    // and resume) rather than a broken stream; then the calls get a moment to deliver that.
    if (const size_t cancelled =
            (*context)->operations->CancelAll(AgentShuttingDown(signal_name), absl::Seconds(5));
        cancelled > 0) {
      spdlog::info("cancelled {} running operation(s)", cancelled);
    }
    (*server)->Shutdown(absl::Seconds(2));
  });
  (*server)->Wait();
  signal_thread.join();
  spdlog::info("stopped");
  return 0;
}

}  // namespace
}  // namespace llorch

int main(int argc, char** argv) {
  llorch::ReserveStandardDescriptors();  // no model file may become our stderr
  llorch::Flags flags;
  CLI::App app("pool-agent: the llorch-pool agent for this host (gRPC API llorch.pool.v1)",
               "pool-agent");
  app.set_version_flag("--version", absl::StrCat("pool-agent ", llorch::kVersion, " (API ",
                                                 llorch::kApiVersion, ")"));
  app.footer(llorch::kExamples);
  app.add_option("--listen", flags.listen,
                 "Address to serve on, repeatable: unix:PATH or HOST:PORT (default: the user's "
                 "unix socket)")
      ->type_name("ADDR");
  app.add_option("--config", flags.config_file,
                 "Extra configuration file, read after /etc and "
                 "the user file")
      ->type_name("FILE");
  app.add_option("--catalog", flags.catalog, "Model catalog to use instead of the built-in one")
      ->type_name("FILE");
  app.add_option("--models-dir", flags.models_dir, "Models directory")->type_name("DIR");
  app.add_option("--repo-root", flags.repo_root, "Repository checkout to manage")->type_name("DIR");
  app.add_option("--log-level", flags.log_level, "trace, debug, info, warn, error or off")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  app.add_option("--log-format", flags.log_format,
                 "text (journald-friendly: \"<6>\" level prefixes under systemd) or json "
                 "(one object a line)")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json"}));
  // The access files (docs/security.md), each setting one agent.* key.
  const std::pair<const char*, const char*> access_files[] = {
      {"--admin-token-file",
       "File holding the token TCP callers present for every method (agent.admin_token_file)"},
      {"--read-only-token-file",
       "File holding the token TCP callers present for reads only (agent.read_only_token_file)"},
      {"--tls-cert",
       "TLS on TCP listeners: the server's certificate chain, PEM (agent.tls_cert_file)"},
      {"--tls-key", "TLS on TCP listeners: the server's private key, PEM (agent.tls_key_file)"},
      {"--tls-client-ca",
       "Mutual TLS: require client certificates signed by this CA (agent.tls_client_ca_file)"}};
  std::optional<std::string>* const access_values[] = {&flags.admin_token_file,
                                                       &flags.read_only_token_file, &flags.tls_cert,
                                                       &flags.tls_key, &flags.tls_client_ca};
  for (size_t i = 0; i < std::size(access_files); ++i) {
    app.add_option(access_files[i].first, *access_values[i], access_files[i].second)
        ->type_name("FILE");
  }
  app.add_flag("--insecure", flags.insecure,
               "Allow TCP listeners without a token, and on non-loopback addresses without TLS "
               "(isolated labs only)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "error: %s\nhint: see `pool-agent --help`\n", e.what());
    return 2;
  }
  return llorch::Serve(flags);
}
