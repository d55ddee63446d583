#include "agent/server/access.h"

#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/slice.h>

#include <tuple>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/tls_files.h"
#include "common/token_file.h"

namespace llorch {
namespace {

absl::string_view View(const grpc_slice& slice) {
  return absl::string_view(reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
                           GRPC_SLICE_LENGTH(slice));
}

// The processor's state, shared with the server for its whole life.
struct Gate {
  std::shared_ptr<const ListenerAuth> auth;
};

// Whether the TLS handshake verified a client certificate on this connection.
bool HasVerifiedClientCertificate(const grpc_auth_context* context) {
  if (context == nullptr) return false;
  grpc_auth_property_iterator it =
      grpc_auth_context_find_properties_by_name(context, GRPC_X509_PEM_CERT_PROPERTY_NAME);
  return grpc_auth_property_iterator_next(&it) != nullptr;
}

// `value` as a log field: printable ASCII, at most 200 characters.
std::string Printable(absl::string_view value) {
  std::string out;
  for (char c : value.substr(0, 200)) out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return out;
}

// The first value of the auth context's property `name`; "" when it has none.
std::string Property(const grpc_auth_context* context, const char* name) {
  if (context == nullptr) return "";
  grpc_auth_property_iterator it = grpc_auth_context_find_properties_by_name(context, name);
  const grpc_auth_property* property = grpc_auth_property_iterator_next(&it);
  return property == nullptr
             ? ""
             : Printable(absl::string_view(property->value, property->value_length));
}

// One record per refused call (event "call.refused"): the method, the answer, what the caller
// presented (never a token's contents), and what is known of the peer at this stage: gRPC checks
// the call before it exists as a call, so its address is not known here; the client
// certificate's subject and the user agent are.
void LogRefused(absl::string_view path, absl::string_view code, absl::string_view credential,
                const grpc_auth_context* context, absl::string_view user_agent) {
  LogFields fields = {{"method", Printable(path)},
                      {"code", std::string(code)},
                      {"credential", std::string(credential)}};
  const std::string transport = Property(context, GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (!transport.empty()) fields.push_back({"transport", transport});
  const std::string subject = Property(context, GRPC_X509_SUBJECT_PROPERTY_NAME);
  if (!subject.empty()) fields.push_back({"peer_certificate", subject});
  if (!user_agent.empty()) fields.push_back({"user_agent", Printable(user_agent)});
  LogRecord(LogLevel::kWarn, "call.refused", fields);
}

// grpc core calls this for every call on the listener, with the call's initial metadata (":path"
// included), before the call reaches the server.
void Process(void* state, grpc_auth_context* context, const grpc_metadata* metadata, size_t count,
             grpc_process_auth_metadata_done_cb done, void* user_data) {
  const ListenerAuth& auth = *static_cast<const Gate*>(state)->auth;
  absl::string_view path;
  absl::string_view user_agent;
  const grpc_metadata* authorization = nullptr;
  for (size_t i = 0; i < count; ++i) {
    const absl::string_view key = View(metadata[i].key);
    if (key == ":path") path = View(metadata[i].value);
    if (key == "user-agent") user_agent = View(metadata[i].value);
    if (key == "authorization") authorization = &metadata[i];
  }
  std::optional<Role> granted = auth.everyone;
  if (granted) {
    // The read-only socket: its callers' tokens change nothing.
  } else if (authorization != nullptr) {
    if (auth.tokens != nullptr)
      granted = RoleOfAuthorization(*auth.tokens, View(authorization->value));
  } else if (auth.client_certificates && HasVerifiedClientCertificate(context)) {
    granted = auth.client_certificate_role;
  }
  if (!granted) {
    LogRefused(path, "unauthenticated",
               authorization != nullptr ? "a token this agent does not accept"
               : HasVerifiedClientCertificate(context)
                   ? "a client certificate that grants no role here"
                   : "none",
               context, user_agent);
    done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_UNAUTHENTICATED,
         authorization != nullptr ? "the token is not one this agent accepts"
         : auth.client_certificates
             ? "this listener requires a verified client certificate or a token: send the "
               "metadata 'authorization: Bearer TOKEN' (llorch-pool --token-file FILE)"
             : "this listener requires a token: send the metadata 'authorization: Bearer TOKEN' "
               "(llorch-pool --token-file FILE)");
    return;
  }
  const std::optional<Role> needed = RequiredRole(path);
  if (!needed || (*needed == Role::kAdmin && *granted != Role::kAdmin)) {
    LogRefused(
        path, "permission_denied",
        auth.everyone ? "the read-only socket"
        : authorization != nullptr
            ? absl::StrCat(*granted == Role::kAdmin ? "an " : "a ", RoleName(*granted), " token")
            : absl::StrCat("a client certificate (", RoleName(*granted), " role)"),
        context, user_agent);
    done(user_data, nullptr, 0, nullptr, 0, GRPC_STATUS_PERMISSION_DENIED,
         needed ? "this method changes the host: it needs the admin role, and the caller has the "
                  "read-only one (the read-only token, or a client certificate without a token)"
                : "this method is not classified for access: nobody may call it");
    return;
  }
  // The token is consumed: service code never sees it.
  done(user_data, authorization, authorization == nullptr ? 0 : 1, nullptr, 0, GRPC_STATUS_OK,
       nullptr);
}

void Destroy(void* state) { delete static_cast<Gate*>(state); }

// Server credentials made from gRPC core credentials: grpc++ 1.51 has no public wrapper for
// them (its InsecureServerCredentials() takes no auth-metadata processor).
class CoreServerCredentials final : public grpc::ServerCredentials {
 public:
  explicit CoreServerCredentials(grpc_server_credentials* credentials)
      : credentials_(credentials) {}
  ~CoreServerCredentials() override { grpc_server_credentials_release(credentials_); }

  void SetAuthMetadataProcessor(const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    // Not used: the processor is set on the core credentials when they are made.
  }

 private:
  int AddPortToServer(const std::string& address, grpc_server* server) override {
    return grpc_server_add_http2_port(server, address.c_str(), credentials_);
  }

  grpc_server_credentials* credentials_;
};

constexpr char kModel[] = "/llorch.pool.v1.ModelService/";
constexpr char kGit[] = "/llorch.pool.v1.GitService/";
constexpr char kWorker[] = "/llorch.pool.v1.WorkerService/";
constexpr char kOperation[] = "/llorch.pool.v1.OperationService/";
constexpr char kDev[] = "/llorch.pool.v1.DevService/";
constexpr char kAgent[] = "/llorch.pool.v1.AgentService/";

}  // namespace

const char* RoleName(Role role) { return role == Role::kAdmin ? "admin" : "read-only"; }

const std::map<std::string, Role>& MethodRoles() {
  constexpr Role kRead = Role::kReadOnly;
  constexpr Role kAdmin = Role::kAdmin;
  static const auto* const roles = new std::map<std::string, Role>{
      {absl::StrCat(kModel, "ListCatalog"), kRead},
      {absl::StrCat(kModel, "ListModels"), kRead},
      {absl::StrCat(kModel, "GetModelInfo"), kRead},
      {absl::StrCat(kModel, "GetDiskUsage"), kRead},
      {absl::StrCat(kModel, "DownloadModel"), kAdmin},
      {absl::StrCat(kModel, "VerifyModel"), kAdmin},  // records the verification, reads GBs
      {absl::StrCat(kModel, "DeleteModel"), kAdmin},
      {absl::StrCat(kModel, "LockModels"), kAdmin},  // writes the catalog's lock file
      {absl::StrCat(kGit, "GetStatus"), kRead},
      {absl::StrCat(kGit, "ListSubmodules"), kRead},
      {absl::StrCat(kGit, "GetSubmoduleStatus"), kRead},
      {absl::StrCat(kGit, "Pull"), kAdmin},
      {absl::StrCat(kGit, "Sync"), kAdmin},
      {absl::StrCat(kGit, "UpdateSubmodules"), kAdmin},
      {absl::StrCat(kGit, "ResetSubmodule"), kAdmin},
      {absl::StrCat(kGit, "SwitchSubmoduleBranch"), kAdmin},
      {absl::StrCat(kGit, "Clean"), kAdmin},
      {absl::StrCat(kWorker, "ListWorkers"), kRead},
      {absl::StrCat(kWorker, "GetWorkerLogs"), kRead},
      {absl::StrCat(kWorker, "SpawnWorker"), kAdmin},
      {absl::StrCat(kWorker, "StopWorker"), kAdmin},
      {absl::StrCat(kOperation, "ListOperations"), kRead},
      {absl::StrCat(kOperation, "GetOperation"), kRead},
      {absl::StrCat(kOperation, "WatchOperation"), kRead},
      {absl::StrCat(kOperation, "CancelOperation"), kAdmin},
      {absl::StrCat(kDev, "RunDoctor"), kRead},
      {absl::StrCat(kDev, "CheckConfig"), kRead},
      {absl::StrCat(kDev, "RunSetup"), kAdmin},
      {absl::StrCat(kAgent, "GetHostInfo"), kRead},
      {absl::StrCat(kAgent, "WatchEvents"), kRead},
      {"/grpc.health.v1.Health/Check", kRead},
      {"/grpc.health.v1.Health/Watch", kRead},
      {"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", kRead},
      {"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo", kRead},
  };
  return *roles;
}

std::optional<Role> RequiredRole(absl::string_view method_path) {
  const auto& roles = MethodRoles();
  const auto found = roles.find(std::string(method_path));
  if (found == roles.end()) return std::nullopt;
  return found->second;
}

std::optional<Role> RoleOfAuthorization(const AccessTokens& tokens, absl::string_view presented) {
  constexpr absl::string_view kScheme = "Bearer ";
  if (!absl::StartsWith(presented, kScheme)) return std::nullopt;
  const absl::string_view token = presented.substr(kScheme.size());
  // Both comparisons always run, so the time does not tell which token came close.
  const bool admin = !tokens.admin.empty() && ConstantTimeEquals(token, tokens.admin);
  const bool read_only = !tokens.read_only.empty() && ConstantTimeEquals(token, tokens.read_only);
  if (admin) return Role::kAdmin;
  if (read_only) return Role::kReadOnly;
  return std::nullopt;
}

std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(
    std::shared_ptr<const ListenerAuth> auth, const std::optional<TlsFiles>& tls) {
  grpc_server_credentials* credentials = nullptr;
  if (tls) {
    // gRPC watches the files and swaps in new certificates when they change: no restart.
    grpc_tls_certificate_provider* provider = grpc_tls_certificate_provider_file_watcher_create(
        tls->key.c_str(), tls->cert.c_str(),
        tls->client_ca.empty() ? nullptr : tls->client_ca.c_str(), tls->refresh_seconds);
    grpc_tls_credentials_options* options = grpc_tls_credentials_options_create();
    grpc_tls_credentials_options_set_certificate_provider(options, provider);
    grpc_tls_credentials_options_watch_identity_key_cert_pairs(options);
    if (tls->client_ca.empty()) {
      grpc_tls_credentials_options_set_cert_request_type(options,
                                                         GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
    } else {
      grpc_tls_credentials_options_watch_root_certs(options);
      grpc_tls_credentials_options_set_cert_request_type(
          options, GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    }
    credentials = grpc_tls_server_credentials_create(options);  // takes the options
    grpc_tls_certificate_provider_release(provider);
  } else {
    credentials = grpc_insecure_server_credentials_create();
  }
  if (auth != nullptr) {
    grpc_server_credentials_set_auth_metadata_processor(
        credentials, grpc_auth_metadata_processor{Process, Destroy, new Gate{std::move(auth)}});
  }
  return std::make_shared<CoreServerCredentials>(credentials);
}

absl::StatusOr<ListenerSecurity> LoadListenerSecurity(const Config::Agent& agent,
                                                      const std::string& working_dir) {
  ListenerSecurity security;
  auto resolve = [&](const std::string& path) { return ResolvePath(path, working_dir); };
  auto auth = std::make_shared<ListenerAuth>();
  if (!agent.admin_token_file.empty() || !agent.read_only_token_file.empty()) {
    auto tokens = std::make_shared<AccessTokens>();
    const std::tuple<const char*, const std::string*, std::string*> files[] = {
        {"agent.admin_token_file", &agent.admin_token_file, &tokens->admin},
        {"agent.read_only_token_file", &agent.read_only_token_file, &tokens->read_only}};
    for (const auto& [key, file, token] : files) {
      if (file->empty()) continue;
      absl::StatusOr<std::string> read = ReadTokenFile(resolve(*file), key);
      if (!read.ok()) return read.status();
      *token = *std::move(read);
    }
    if (!tokens->admin.empty() && ConstantTimeEquals(tokens->admin, tokens->read_only)) {
      return WithHint(absl::InvalidArgumentError(
                          "agent.admin_token_file and agent.read_only_token_file hold the same "
                          "token: the read-only role would be an admin"),
                      "make a separate token for each role: openssl rand -hex 32");
    }
    auth->tokens = std::move(tokens);
  }
  if (agent.tls_cert_file.empty() != agent.tls_key_file.empty() ||
      (!agent.tls_client_ca_file.empty() && agent.tls_cert_file.empty())) {
    return WithHint(
        absl::InvalidArgumentError("TLS needs both agent.tls_cert_file and agent.tls_key_file (and "
                                   "agent.tls_client_ca_file needs them too)"),
        "set the server's certificate and key, see docs/security.md");
  }
  if (!agent.tls_cert_file.empty()) {
    TlsFiles tls{resolve(agent.tls_cert_file), resolve(agent.tls_key_file),
                 agent.tls_client_ca_file.empty() ? "" : resolve(agent.tls_client_ca_file),
                 static_cast<unsigned>(agent.tls_reload_seconds)};
    const std::tuple<const std::string*, const char*, bool> files[] = {
        {&tls.cert, "agent.tls_cert_file", false},
        {&tls.key, "agent.tls_key_file", true},
        {&tls.client_ca, "agent.tls_client_ca_file", false}};
    for (const auto& [file, key, secret] : files) {
      if (file->empty()) continue;
      if (absl::Status status = CheckPemFile(*file, key, secret); !status.ok()) return status;
    }
    if (absl::Status status = CheckKeyMatchesCertificate(tls.cert, "agent.tls_cert_file", tls.key,
                                                         "agent.tls_key_file");
        !status.ok()) {
      return status;
    }
    auth->client_certificates = !tls.client_ca.empty();
    auth->client_certificate_role =
        agent.client_cert_role == "admin" ? Role::kAdmin : Role::kReadOnly;
    security.tls = std::move(tls);
  }
  if (auth->tokens != nullptr || auth->client_certificates) security.auth = std::move(auth);
  return security;
}

}  // namespace llorch
