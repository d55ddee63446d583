#include "common/tls_files.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/file_read.h"
#include "common/status.h"

namespace llorch {
namespace {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct X509Free {
  void operator()(X509* cert) const { X509_free(cert); }
};
struct KeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Certificate = std::unique_ptr<X509, X509Free>;

// Leaves OpenSSL's error queue of this thread empty (a failed read fills it), for whatever else
// uses OpenSSL on it next.
struct ClearErrors {
  ~ClearErrors() { ERR_clear_error(); }
};

// Refuses to ask for a passphrase (OpenSSL would read one from the terminal).
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::StatusOr<std::string> ReadPem(const std::string& path, absl::string_view key) {
  FileReadOptions options;
  options.what = "PEM file";
  absl::StatusOr<std::string> text = ReadRegularFile(path, options);
  if (!text.ok()) return WithPrefix(text.status(), key);
  if (!absl::StrContains(*text, "-----BEGIN ")) {
    return WithHint(absl::InvalidArgumentError(absl::StrCat(key, ": ", path, " is not a PEM file")),
                    "give the PEM file openssl writes (-----BEGIN ...); see docs/security.md");
  }
  return text;
}

Bio MemoryBio(const std::string& text) {
  return Bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string TimeText(const ASN1_TIME* time) {
  Bio out(BIO_new(BIO_s_mem()));
  ASN1_TIME_print(out.get(), time);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  return std::string(data, size > 0 ? static_cast<size_t>(size) : 0);
}

}  // namespace

absl::Status CheckPemFile(const std::string& path, absl::string_view key, bool secret) {
  absl::StatusOr<std::string> text = ReadPem(path, key);
  if (!text.ok()) return text.status();
  if (!secret) return absl::OkStatus();
  return RefuseOthersPermissions(path, key, "a private key", absl::StrCat("chmod 600 ", path));
}

absl::Status CheckCertificates(const std::string& path, absl::string_view key) {
  const ClearErrors clear;
  absl::StatusOr<std::string> text = ReadPem(path, key);
  if (!text.ok()) return text.status();
  Bio bio = MemoryBio(*text);
  int count = 0;
  while (Certificate cert{PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)}) {
    ++count;
    const std::string which = count == 1 ? "its certificate" : absl::StrCat("certificate ", count);
    if (X509_cmp_current_time(X509_get0_notAfter(cert.get())) < 0) {
      return WithHint(
          absl::FailedPreconditionError(absl::StrCat(key, ": ", path, ": ", which, " expired on ",
                                                     TimeText(X509_get0_notAfter(cert.get())))),
          "renew it (docs/api.md, \"Certificates and tokens\"); the agent picks up "
          "renewed files without a restart");
    }
    if (X509_cmp_current_time(X509_get0_notBefore(cert.get())) > 0) {
      return WithHint(absl::FailedPreconditionError(
                          absl::StrCat(key, ": ", path, ": ", which, " is not valid before ",
                                       TimeText(X509_get0_notBefore(cert.get())))),
                      "check this host's clock, or make the certificate again");
    }
  }
  if (count == 0) {
    return WithHint(absl::InvalidArgumentError(
                        absl::StrCat(key, ": ", path, " holds no certificate OpenSSL can read")),
                    "give the certificate in PEM (-----BEGIN CERTIFICATE-----), as openssl x509 "
                    "writes it");
  }
  return absl::OkStatus();
}

absl::Status CheckKeyMatchesCertificate(const std::string& cert_path, absl::string_view cert_key,
                                        const std::string& key_path, absl::string_view key_key) {
  const ClearErrors clear;
  absl::StatusOr<std::string> cert_text = ReadPem(cert_path, cert_key);
  if (!cert_text.ok()) return cert_text.status();
  absl::StatusOr<std::string> key_text = ReadPem(key_path, key_key);
  if (!key_text.ok()) return key_text.status();
  Bio cert_bio = MemoryBio(*cert_text);
  Certificate cert(PEM_read_bio_X509(cert_bio.get(), nullptr, NoPassphrase, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(cert_key, ": ", cert_path, " holds no certificate OpenSSL can read"));
  }
  Bio key_bio = MemoryBio(*key_text);
  std::unique_ptr<EVP_PKEY, KeyFree> private_key(
      PEM_read_bio_PrivateKey(key_bio.get(), nullptr, NoPassphrase, nullptr));
  if (private_key == nullptr) {
    return WithHint(absl::InvalidArgumentError(absl::StrCat(
                        key_key, ": ", key_path,
                        " holds no private key OpenSSL can read without a passphrase")),
                    absl::StrCat("give the unencrypted key (openssl req -nodes makes one; "
                                 "openssl pkey -in KEY -out ",
                                 key_path, " removes a passphrase)"));
  }
  if (X509_check_private_key(cert.get(), private_key.get()) != 1) {
    return WithHint(absl::InvalidArgumentError(absl::StrCat(
                        key_key, ": ", key_path, " is not the key of the certificate in ",
                        cert_path, " (", cert_key, ")")),
                    "give the certificate and key made together (renew both at once)");
  }
  return absl::OkStatus();
}

}  // namespace llorch
