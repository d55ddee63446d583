// Certificates for TLS tests, made at test time with the openssl CLI (no network, nothing kept).
#ifndef LLORCH_TESTS_SUPPORT_CERTIFICATES_H_
#define LLORCH_TESTS_SUPPORT_CERTIFICATES_H_

#include <string>

namespace llorch::testing {

// Makes in `dir` the CA `ca`.pem/.key (unless it exists) and `name`.pem/.key signed by it (P-256,
// valid two days, key mode 0600), for `usage` "server" (names localhost and 127.0.0.1) or
// "client" (extendedKeyUsage clientAuth). Fails the test (ADD_FAILURE) when openssl does.
void MakeCertificate(const std::string& dir, const std::string& ca, const std::string& name,
                     const std::string& usage);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_CERTIFICATES_H_
