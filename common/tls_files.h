// The TLS files a configuration names (the agent's certificate, key and client CA; the CLI's CA,
// certificate and key), checked before gRPC reads them: gRPC's file watcher only logs what is
// wrong, and a handshake then fails without saying why. Used by the agent at start and by
// `dev check-config`. See docs/security.md.
#ifndef LLORCH_COMMON_TLS_FILES_H_
#define LLORCH_COMMON_TLS_FILES_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

// Reads the PEM file `path` (a regular file holding "-----BEGIN "); `secret` (a private key): it
// must grant nothing to other users (InvalidArgument with the chmod that fixes it). `key` names
// the setting in messages, e.g. "agent.tls_key_file".
absl::Status CheckPemFile(const std::string& path, absl::string_view key, bool secret);

// The certificates in `path` (a chain, or a CA bundle): InvalidArgument when OpenSSL reads none;
// FailedPrecondition when one is not valid now (expired, or before its notBefore: the agent
// serves it, and clients refuse it).
absl::Status CheckCertificates(const std::string& path, absl::string_view key);

// Whether the private key in `key_path` (unencrypted: gRPC takes no passphrase) belongs to the
// first certificate of `cert_path`. InvalidArgument, naming both settings, otherwise.
absl::Status CheckKeyMatchesCertificate(const std::string& cert_path, absl::string_view cert_key,
                                        const std::string& key_path, absl::string_view key_key);

}  // namespace llorch

#endif  // LLORCH_COMMON_TLS_FILES_H_
