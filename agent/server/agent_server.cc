#include "agent/server/agent_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server_builder.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <set>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"
#include "agent/dev/dev_service.h"
#include "agent/git/git_service.h"
#include "agent/models/model_service.h"
#include "agent/ops/operation_history.h"
#include "agent/ops/operation_service.h"
#include "agent/rpc/request_rules.h"
#include "agent/server/access.h"
#include "agent/server/agent_service.h"
#include "agent/server/peer_limits.h"
#include "agent/server/reflection_v1.h"
#include "agent/server/utf8_interceptor.h"
#include "agent/workers/worker_service.h"
#include "common/address.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/trusted_dir.h"
#include "spdlog/spdlog.h"

namespace llorch {
namespace fs = std::filesystem;
namespace v1 = pool::v1;

namespace {

// How downloads fetch, with the catalog's pins.
DownloadSettings DownloadSettingsOf(const AgentContext& context) {
  DownloadSettings settings =
      DownloadSettingsFor(context.config, context.repo_root, EnvironmentSnapshot());
  settings.pins = context.catalog_lock;
  return settings;
}

// The services share one GPU inventory (its NVML session and what it keeps).
WorkerSettings WorkerSettingsWith(WorkerSettings settings, std::shared_ptr<GpuInventory> gpus) {
  settings.gpus = std::move(gpus);
  return settings;
}
// The doctor's options, with the shared GPU inventory.
DoctorOptions DevDoctorOptions(const AgentContext& context, std::shared_ptr<GpuInventory> gpus) {
  DoctorOptions options =
      DoctorOptionsFor(context.config, context.repo_root, context.models_dir, context.state_dir,
                       context.catalog, EnvironmentSnapshot());
  options.gpus = std::move(gpus);
  return options;
}

// The set-up's options: the doctor's, the downloads', and the git service's checkout.
SetupOptions DevSetupOptions(const AgentContext& context, std::shared_ptr<GpuInventory> gpus,
                             std::shared_ptr<const GitRepo> repo) {
  SetupOptions options = SetupOptionsFor(context.config, DevDoctorOptions(context, std::move(gpus)),
                                         DownloadSettingsOf(context), EnvironmentSnapshot());
  options.repo = std::move(repo);
  // As a download's: `agent events` hears the model installed.
  options.installed = [events = context.events, store = ModelStore(context.models_dir)](
                          const CatalogModel& model, const v1::Manifest& manifest,
                          const std::string& operation_id) {
    PublishModelInstalled(events.get(), store, model, operation_id, manifest);
  };
  return options;
}

HostFacts::Sources HostFactsSources(const AgentContext& context, std::shared_ptr<GpuInventory> gpus,
                                    std::shared_ptr<WorkerManager> workers) {
  const std::string path = EnvironmentSnapshot()["PATH"];
  HostFacts::Sources sources;
  sources.gpus = std::move(gpus);
  for (const auto& [backend, settings] :
       WorkerSettingsFor(context.config, context.state_dir, context.in_process, path).backends) {
    if (!settings.argv.empty()) sources.programs[backend] = settings.argv.front();
  }
  sources.path_env = path;
  sources.catalog = context.catalog;
  sources.models_dir = context.models_dir;
  sources.workers = std::move(workers);
  if (!context.repo_root.empty()) {
    sources.repo =
        GitRepoOptionsFor(context.config, context.repo_root, context.models_dir, context.state_dir);
  }
  return sources;
}

}  // namespace

struct AgentServer::Services {
  Services(std::shared_ptr<const AgentContext> context,
           std::shared_ptr<const llorch::BoundAddresses> addresses)
      : gpus(std::make_shared<GpuInventory>(GpuInventoryOptionsFor(EnvironmentSnapshot()))),
        models(context->catalog, context->models_dir, DownloadSettingsOf(*context),
               context->operations, context->events),
        git(GitRepoOptionsFor(context->config, context->repo_root, context->models_dir,
                              context->state_dir),
            context->operations),
        workers(WorkerSettingsWith(
                    WorkerSettingsFor(context->config, context->state_dir, context->in_process,
                                      EnvironmentSnapshot()["PATH"]),
                    gpus),
                context->catalog, context->models_dir, context->operations, context->events),
        dev(DevDoctorOptions(*context, gpus),
            {context->config.sources, context->working_dir.string(), context->in_process},
            DevSetupOptions(*context, gpus, git.repo()), context->operations),
        ops(context->operations),
        agent(context, addresses,
              std::make_shared<HostFacts>(HostFactsSources(*context, gpus, workers.manager())),
              models.hub()) {
    // models/ knows no workers: the worker domain answers whether a model is in use.
    models.SetInUseCheck([manager = workers.manager()](const CatalogModel& model) {
      return manager->CheckModelUnused(model);
    });
    // dev/ knows neither the listeners nor the workers: the server says which ports are its own.
    dev.SetOwnPorts([addresses, manager = workers.manager()] {
      std::set<int> ports;
      for (const std::string& bound : addresses->Get()) {
        absl::StatusOr<Address> address = ParseAddress(bound);
        if (address.ok() && address->kind == Address::Kind::kTcp) ports.insert(address->port);
      }
      if (std::optional<int> callback = manager->CallbackListenerPort()) ports.insert(*callback);
      return ports;
    });
  }
  std::shared_ptr<GpuInventory> gpus;
  ModelServiceImpl models;
  GitServiceImpl git;
  WorkerServiceImpl workers;
  DevServiceImpl dev;
  OperationServiceImpl ops;
  AgentServiceImpl agent;
  ReflectionV1Service reflection_v1;  // served with v1alpha, on listeners
};

namespace {

// Makes `path` usable as a fresh socket: its directory present and trusted (created 0750 for
// root, so the socket's group can reach it, and 0700 for other users), no stale socket file.
absl::Status PrepareSocketPath(const std::string& path) {
  const uid_t uid = geteuid();
  fs::path parent = fs::path(path).parent_path();
  if (parent.empty()) parent = ".";
  if (absl::Status status = EnsureTrustedDirectory(parent.string(), uid == 0 ? 0750 : 0700, uid);
      !status.ok()) {
    return WithPrefix(status, "cannot use the socket directory");
  }
  struct stat info {};
  if (lstat(path.c_str(), &info) != 0) return absl::OkStatus();
  if (UnixSocketAccepts(path)) {
    return WithHint(
        absl::AlreadyExistsError(absl::StrCat("another agent is already listening on unix:", path)),
        "stop it first, or listen elsewhere with --listen unix:PATH");
  }
  if (!S_ISSOCK(info.st_mode)) {
    return absl::AlreadyExistsError(
        absl::StrCat(path, " exists and is not a socket; refusing to replace it"));
  }
  if (info.st_uid != uid) {
    return absl::AlreadyExistsError(absl::StrCat(
        path, " is a socket of ", UserDescription(info.st_uid), "; refusing to replace it"));
  }
  std::error_code ec;
  fs::remove(path, ec);  // stale socket left by an agent that died
  return absl::OkStatus();
}

// What one peer's calls and connections may take of the server (docs/security.md, "Limits").
void ApplyLimits(const Config::Agent& agent, grpc::ServerBuilder* builder) {
  // A request larger than any the field rules allow is refused before it is parsed
  // (RESOURCE_EXHAUSTED); gRPC's 4 MiB default would let every stream of every connection make
  // the agent buffer 4 MiB to be told a field is too long.
  builder->SetMaxReceiveMessageSize(kMaxRequestMessageBytes);
  // Streams of one connection at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS: the client waits
  // for a free one, other connections are not affected): a peer's every streaming call with
  // room for unary calls beside them, so that its own `agent info` is not queued behind its
  // watches, and a flood on one connection is bounded.
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                              static_cast<int>(agent.max_streams_per_peer) + 32);
  // A peer that vanished (host off, cable cut) does not hold its streams forever: the server
  // pings a connection idle for 60 s and closes it when no answer comes within 20 s.
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  // Clients may ping as often as every 20 s (llorch-pool pings a silent stream every 30 s to
  // notice a vanished agent); more often is a misbehaving client, and gRPC closes it.
  builder->AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 20 * 1000);
}

}  // namespace

AgentServer::AgentServer() = default;

AgentServer::~AgentServer() {
  if (!server_) return;
  Shutdown(absl::ZeroDuration());
  Wait();
}

absl::StatusOr<std::unique_ptr<AgentServer>> AgentServer::Start(
    std::shared_ptr<const AgentContext> context, const std::vector<Address>& listeners,
    bool insecure) {
  std::unique_ptr<AgentServer> server(new AgentServer());
  server->context_ = context;
  server->bound_addresses_ = std::make_shared<llorch::BoundAddresses>();
  server->services_ = std::make_unique<Services>(context, server->bound_addresses_);

  // Health and reflection for those who connect; an agent without a listener (in-process, the
  // CLI's own) has nobody to probe it, and the health service would cost it threads of gRPC's
  // callback queue at every start and stop.
  grpc::EnableDefaultHealthCheckService(!listeners.empty());
  if (!listeners.empty()) grpc::reflection::InitProtoReflectionServerBuilderPlugin();

  absl::StatusOr<ListenerSecurity> security =
      LoadListenerSecurity(context->config.agent, context->working_dir.string());
  if (!security.ok()) return security.status();
  server->bound_addresses_->SetInsecure(insecure);
  // The group each socket is given after the start (none: the agent's own group).
  std::vector<std::pair<std::string, std::string>> socket_groups;  // path, agent.* group key

  grpc::ServerBuilder builder;
  std::vector<int> tcp_ports(listeners.size(), 0);
  for (size_t i = 0; i < listeners.size(); ++i) {
    const Address& address = listeners[i];
    if (address.kind == Address::Kind::kUnix) {
      if (absl::Status status = PrepareSocketPath(address.path); !status.ok()) return status;
      server->socket_paths_.push_back(address.path);
      socket_groups.emplace_back(address.path, "agent.socket_group");
      builder.AddListeningPort(address.GrpcTarget(), grpc::InsecureServerCredentials());
      continue;
    }
    if (!address.IsLocal() && !security->tls && !insecure) {
      return WithHint(
          absl::InvalidArgumentError(absl::StrCat("refusing to listen on ", address.GrpcTarget(),
                                                  " without TLS: the API controls this host")),
          "set agent.tls_cert_file and agent.tls_key_file (docs/security.md), listen on a unix "
          "socket or 127.0.0.1, or pass --insecure for an isolated lab network");
    }
    if (security->auth == nullptr && !insecure) {
      return WithHint(
          absl::InvalidArgumentError(absl::StrCat(
              "refusing to listen on ", address.GrpcTarget(),
              " without authentication: whoever reaches a TCP port, loopback included, would "
              "control this host")),
          "set agent.admin_token_file (and agent.read_only_token_file) to token files, or "
          "agent.tls_client_ca_file for client certificates, see docs/security.md; or pass "
          "--insecure for an isolated lab network");
    }
    // Tokens and client certificates, when configured, are checked even with --insecure.
    builder.AddListeningPort(address.GrpcTarget(),
                             ListenerCredentials(security->auth, security->tls), &tcp_ports[i]);
  }
  // The read-only socket: whoever may connect (its group) gets the read-only role, token or not.
  const std::string& read_only_socket = context->config.agent.read_only_socket;
  if (!listeners.empty() && !read_only_socket.empty()) {
    if (absl::Status status = PrepareSocketPath(read_only_socket); !status.ok()) {
      return WithPrefix(status, "agent.read_only_socket");
    }
    server->socket_paths_.push_back(read_only_socket);
    socket_groups.emplace_back(read_only_socket, "agent.read_only_group");
    auto everyone = std::make_shared<ListenerAuth>();
    everyone->everyone = Role::kReadOnly;
    builder.AddListeningPort("unix:" + read_only_socket,
                             ListenerCredentials(std::move(everyone), std::nullopt));
  }
  // pool-agent's operations outlive it (the socket checks above come first: a second agent on
  // the same socket is told so, not that the history is taken). An agent inside the CLI keeps
  // them in memory only.
  if (!context->in_process) {
    absl::StatusOr<std::unique_ptr<OperationHistory>> history =
        OperationHistory::Open(context->state_dir / "operations");
    if (!history.ok()) return WithPrefix(history.status(), "cannot keep the operation history");
    context->operations->KeepHistory(*std::move(history));
  }
  builder.RegisterService(&server->services_->models);
  builder.RegisterService(&server->services_->git);
  builder.RegisterService(&server->services_->workers);
  builder.RegisterService(&server->services_->dev);
  builder.RegisterService(&server->services_->ops);
  builder.RegisterService(&server->services_->agent);
  if (!listeners.empty()) builder.RegisterService(&server->services_->reflection_v1);
  ApplyLimits(context->config.agent, &builder);
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors;
  interceptors.push_back(NewUtf8InterceptorFactory());
  interceptors.push_back(NewPeerLimitInterceptorFactory(std::make_shared<PeerStreamLimits>(
      static_cast<int>(context->config.agent.max_streams_per_peer))));
  builder.experimental().SetInterceptorCreators(std::move(interceptors));

  // Sockets are born 0660 (bind applies the umask to 0777): a chmod after the start would leave
  // a moment in which they accept with whatever mode the umask gave. Nothing else creates files
  // while the server starts (and the in-process agent has no socket).
  const bool sockets = !server->socket_paths_.empty();
  const mode_t umask_before = sockets ? umask(0117) : 0;
  server->server_ = builder.BuildAndStart();
  if (sockets) umask(umask_before);
  if (!server->server_) {
    return absl::UnavailableError("could not start the gRPC server on the requested addresses");
  }
  for (const auto& [path, key] : socket_groups) {
    const std::string& group = key == "agent.socket_group" ? context->config.agent.socket_group
                                                           : context->config.agent.read_only_group;
    if (group.empty()) continue;
    absl::StatusOr<gid_t> gid = GroupId(group);
    if (gid.ok() && lchown(path.c_str(), static_cast<uid_t>(-1), *gid) == 0) continue;
    const int error = errno;
    server->server_->Shutdown();
    if (!gid.ok()) return WithPrefix(gid.status(), key);
    return WithHint(
        absl::PermissionDeniedError(absl::StrCat(key, ": cannot give ", path, " to group '", group,
                                                 "': ", std::strerror(error))),
        "run the agent as root or as a member of that group");
  }
  std::vector<std::string> bound;
  for (size_t i = 0; i < listeners.size(); ++i) {
    Address address = listeners[i];
    if (address.kind == Address::Kind::kTcp) {
      if (tcp_ports[i] == 0) {
        server->server_->Shutdown();
        return WithHint(
            absl::UnavailableError(absl::StrCat("could not listen on ", address.GrpcTarget())),
            "is the port in use or the address not on this host?");
      }
      address.port = tcp_ports[i];
    }
    bound.push_back(address.GrpcTarget());
  }
  if (!listeners.empty() && !read_only_socket.empty()) bound.push_back("unix:" + read_only_socket);
  server->bound_addresses_->Set(std::move(bound));
  server->services_->reflection_v1.SetServer(server->InProcessChannel());
  // Per-service health, so a load balancer or orchestrator can probe the service it uses. A
  // service with an RPC that answers NOT_AVAILABLE_YET in this release is not serving (none
  // now).
  const std::pair<const char*, bool> services[] = {
      {v1::ModelService::service_full_name(), true},
      {v1::GitService::service_full_name(), true},
      {v1::WorkerService::service_full_name(), true},
      {v1::DevService::service_full_name(), true},
      {v1::OperationService::service_full_name(), true},
      {v1::AgentService::service_full_name(), true},
  };
  grpc::HealthCheckServiceInterface* health = server->server_->GetHealthCheckService();
  for (const auto& [service, serving] : services) {
    if (health != nullptr) health->SetServingStatus(service, serving);
  }
  return server;
}

std::vector<std::string> AgentServer::BoundAddresses() const { return bound_addresses_->Get(); }

std::shared_ptr<grpc::Channel> AgentServer::InProcessChannel() {
  return server_->InProcessChannel(grpc::ChannelArguments());
}

void AgentServer::StopServing() {
  if (grpc::HealthCheckServiceInterface* health = server_->GetHealthCheckService()) {
    health->Shutdown();
  }
}

void AgentServer::Shutdown(absl::Duration grace) {
  StopServing();
  server_->Shutdown(absl::ToChronoTime(absl::Now() + grace));
}

void AgentServer::Wait() {
  server_->Wait();
  services_->reflection_v1.SetServer(nullptr);
  std::error_code ec;
  for (const std::string& path : socket_paths_) fs::remove(path, ec);
  socket_paths_.clear();
}

}  // namespace llorch
