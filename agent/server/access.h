// Who may call what on the agent's TCP listeners: bearer tokens and their two roles.
//
// Every method of every service the agent serves (its own llorch.pool.v1 services, gRPC health
// and server reflection) is in ONE table, MethodRoles(): the least role that may call it. A
// method missing from the table is refused to everyone (fail closed), and a test enumerates the
// served methods so that a new RPC cannot slip through unclassified.
//
// The check runs before the call reaches any service code. gRPC 1.51's server interceptors
// cannot end a call before its handler runs (server-side Hijack is not supported), and its C++
// AuthMetadataProcessor refuses insecure credentials; so TCP listeners are added with gRPC core
// credentials (grpc_insecure_server_credentials_create) carrying a core auth-metadata processor,
// (or gRPC core TLS credentials with a file-watcher certificate provider), which answers
// UNAUTHENTICATED (no or a wrong token) or PERMISSION_DENIED (a read-only token on
// a mutating method) in the transport, before any handler or interceptor. The in-process channel
// and unix sockets have no processor: a unix socket is guarded by its file mode (0660) and group.
#ifndef LLORCH_AGENT_SERVER_ACCESS_H_
#define LLORCH_AGENT_SERVER_ACCESS_H_

#include <grpcpp/security/server_credentials.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/config.h"

namespace llorch {

enum class Role {
  kReadOnly,  // lists, gets, watches, info, doctor, logs, check-config, health, reflection
  kAdmin,     // everything
};

// "read-only" or "admin".
const char* RoleName(Role role);

// The one table: every method the agent serves, as its gRPC path
// ("/llorch.pool.v1.ModelService/DeleteModel"), with the least role that may call it.
const std::map<std::string, Role>& MethodRoles();

// The role a method needs; nullopt for a method not in the table (refused to everyone).
std::optional<Role> RequiredRole(absl::string_view method_path);

// The tokens the agent accepts. An empty token is never accepted.
struct AccessTokens {
  std::string admin;
  std::string read_only;
};

// The role the token `presented` (an "authorization" header's value, "Bearer TOKEN") grants;
// nullopt when it grants none. Both tokens are always compared, in constant time.
std::optional<Role> RoleOfAuthorization(const AccessTokens& tokens, absl::string_view presented);

// How a TCP listener admits calls.
struct ListenerAuth {
  std::shared_ptr<const AccessTokens> tokens;  // null: no tokens configured
  // Mutual TLS: a call without a token from a client whose certificate the client CA verified
  // gets `client_certificate_role`.
  bool client_certificates = false;
  Role client_certificate_role = Role::kReadOnly;
  // Set: every caller gets this role, token or not (the read-only socket, whose file mode and
  // group decide who may connect).
  std::optional<Role> everyone;
};

// The files of a TLS listener, watched and reloaded every `refresh_seconds` when they change.
struct TlsFiles {
  std::string cert;       // the server's certificate chain (PEM)
  std::string key;        // its private key (PEM)
  std::string client_ca;  // "" = no client certificates; else they are required and verified
  unsigned refresh_seconds = 60;
};

// Credentials for one TCP listener (or the read-only socket): plaintext (no `tls`) or TLS, with
// every call checked against `auth` and MethodRoles() before it reaches the server. `auth` null:
// calls are not checked (--insecure without tokens).
std::shared_ptr<grpc::ServerCredentials> ListenerCredentials(
    std::shared_ptr<const ListenerAuth> auth, const std::optional<TlsFiles>& tls);

// What the agent's TCP listeners require, from the agent.* keys (docs/security.md); relative
// paths are relative to `working_dir`. `auth` is null when neither tokens nor client
// certificates are configured, `tls` unset without agent.tls_cert_file. The files are checked
// now: token files as ReadTokenFile() (common/token_file.h); the certificate, key and client CA
// must be readable PEM files, and the key must grant nothing to other users.
struct ListenerSecurity {
  std::shared_ptr<const ListenerAuth> auth;
  std::optional<TlsFiles> tls;
};
absl::StatusOr<ListenerSecurity> LoadListenerSecurity(const Config::Agent& agent,
                                                      const std::string& working_dir);

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_ACCESS_H_
