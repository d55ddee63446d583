#include "tests/support/certificates.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "tests/support/run_command.h"

namespace llorch::testing {

void MakeCertificate(const std::string& dir, const std::string& ca, const std::string& name,
                     const std::string& usage) {
  auto run = [](const std::vector<std::string>& argv) {
    CommandResult result = RunCommand(argv);
    if (result.exit_code != 0) ADD_FAILURE() << "openssl " << argv[1] << ": " << result.err;
    return result.exit_code == 0;
  };
  const std::string p = dir + "/";
  if (!std::filesystem::exists(p + ca + ".pem") &&
      !run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-keyout", p + ca + ".key", "-out", p + ca + ".pem", "-days", "2", "-subj",
            "/CN=" + ca})) {
    return;
  }
  std::ofstream(p + name + ".ext")
      << (usage == "server" ? "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                            : "extendedKeyUsage=clientAuth\n");
  if (!run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", p + name + ".key", "-out", p + name + ".csr", "-subj", "/CN=" + name}) ||
      !run({"openssl", "x509", "-req", "-in", p + name + ".csr", "-CA", p + ca + ".pem", "-CAkey",
            p + ca + ".key", "-CAcreateserial", "-out", p + name + ".pem", "-days", "2", "-extfile",
            p + name + ".ext"})) {
    return;
  }
  chmod((p + name + ".key").c_str(), 0600);
}

}  // namespace llorch::testing
