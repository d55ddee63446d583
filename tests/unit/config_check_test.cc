// Tests for `dev check-config`'s checks (agent/dev/config_check.h) with the host's facts
// injected: the ephemeral port range, which ports are free and which the agent holds. Files and
// directories live in a fresh temp dir per test.
#include "agent/dev/config_check.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/certificates.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

class ConfigCheckTest : public ::testing::Test {
 protected:
  ConfigCheckTest() {
    fs::create_directories(Path("work/.git"));
    std::ofstream(Path("work/.git/HEAD")) << "ref: refs/heads/main\n";
    fs::create_directories(Path("bin"));
    host_.working_dir = Path("work");
    host_.uid = geteuid();
    host_.ephemeral_ports = {32768, 60999};
    host_.port_free = [this](int port) { return busy_.count(port) == 0; };
    host_.path_env = Path("bin");
    AddProgram("python3");
    sources_.system_file = Path("etc/pool.toml");
    sources_.user_file = Path("user.toml");
    sources_.env = {{"LLORCH_STATE_DIR", Path("state")}};
  }

  std::string Path(const std::string& name) const { return temp_.path() + "/" + name; }
  std::string Write(const std::string& name, const std::string& text) {
    fs::create_directories(fs::path(Path(name)).parent_path());
    std::ofstream(Path(name)) << text;
    return Path(name);
  }
  void AddProgram(const std::string& name) {
    Write("bin/" + name, "#!/bin/sh\n");
    fs::permissions(Path("bin/" + name), fs::perms::owner_all);
  }

  // The host checks of the user file `toml`.
  std::vector<ConfigProblem> HostProblems(const std::string& toml) {
    Write("user.toml", toml);
    ConfigWalk walk = WalkConfigLayers(sources_, /*keep_going=*/true);
    EXPECT_THAT(walk.problems, IsEmpty()) << FormatConfigProblem(walk.problems.front());
    return CheckConfigOnHost(walk.config, host_);
  }
  // "source:line: error|warning: message" of each, to compare at a glance.
  static std::vector<std::string> Lines(const std::vector<ConfigProblem>& problems) {
    std::vector<std::string> lines;
    for (const ConfigProblem& problem : problems) {
      const bool error = problem.severity == ConfigProblem::Severity::kError;
      lines.push_back(FormatConfigProblem(
          {problem.source, problem.line, 0, (error ? "error: " : "warning: ") + problem.message}));
    }
    return lines;
  }

  llorch::testing::TempDir temp_;
  ConfigHostFacts host_;
  ConfigSources sources_;
  std::set<int> busy_;
};

TEST_F(ConfigCheckTest, TheDefaultsOnAFitHostHaveNoFinding) {
  EXPECT_THAT(Lines(HostProblems("")), IsEmpty());
}

TEST_F(ConfigCheckTest, AWorkerPortRangeInsideTheEphemeralRangeIsAnErrorAtItsLine) {
  std::vector<ConfigProblem> problems =
      HostProblems("[workers]\nport_first = 40000\nport_last = 40100\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].source, Path("user.toml"));
  EXPECT_EQ(problems[0].line, 2);
  EXPECT_EQ(problems[0].key, "workers.port_first");
  EXPECT_EQ(problems[0].severity, ConfigProblem::Severity::kError);
  EXPECT_THAT(problems[0].message,
              HasSubstr("the worker port range 40000-40100 lies inside the kernel's ephemeral "
                        "range 32768-60999"));
  EXPECT_THAT(problems[0].fix, HasSubstr("choose a range below 32768 or above 60999"));
}

TEST_F(ConfigCheckTest, ARangeOverlappingTheEphemeralRangeOrUpsideDownIsReported) {
  host_.ephemeral_ports = {8500, 9100};
  EXPECT_THAT(Lines(HostProblems("")),
              ::testing::ElementsAre(
                  "default: warning: ports 8500-8999 of the worker port range 8001-8999 lie in "
                  "the kernel's ephemeral range 8500-9100 "
                  "(/proc/sys/net/ipv4/ip_local_port_range) and are skipped"));
  host_.ephemeral_ports = {32768, 60999};
  std::vector<ConfigProblem> problems = HostProblems("[workers]\n\nport_last = 8000\n");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 3);  // the key that was set, not the default one
  EXPECT_EQ(problems[0].message,
            "workers.port_first 8001 is above workers.port_last 8000: no default worker port can "
            "be chosen");
}

TEST_F(ConfigCheckTest, ABusyCallbackPortIsAnErrorUnlessThisAgentHoldsIt) {
  busy_ = {9201, 9300};
  std::vector<ConfigProblem> problems =
      HostProblems("[agent]\nlisten = [\"127.0.0.1:9300\", \"unix:/x.sock\"]\n");
  EXPECT_THAT(Lines(problems),
              ::testing::ElementsAre(
                  "default: error: workers.callback_port: port 9201 (the ready-callback listener "
                  "on 127.0.0.1) is in use by another process",
                  Path("user.toml") + ":2: error: agent.listen: port 9300 (the agent's listener "
                                      "127.0.0.1:9300) is in use by another process"));
  EXPECT_THAT(problems[0].fix, HasSubstr("ss -ltnp 'sport = :9201'"));

  host_.own_ports = {9201, 9300};
  EXPECT_THAT(Lines(HostProblems("[agent]\nlisten = [\"127.0.0.1:9300\"]\n")), IsEmpty());

  // The CLI's in-process agent binds neither: a running pool-agent may hold them.
  host_.own_ports.clear();
  host_.in_process = true;
  problems = HostProblems("");
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].severity, ConfigProblem::Severity::kWarning);
}

TEST_F(ConfigCheckTest, WorkerTemplatesNeedTheirPlaceholdersAndAProgram) {
  std::vector<ConfigProblem> problems = HostProblems(
      "[workers.cpu]\nargv = [\"my-worker\", \"--model\", \"{model_path}\", \"--port\", "
      "\"{port}\"]\nready = \"health\"\n"
      "[workers.cuda]\n"
      "argv = [\"llorch-cuda-candled\", \"--worker-id\", \"{worker_id}\", \"--model\",\n"
      "        \"{model_path}\", \"--callback-url\", \"{callback_url}\", \"--port\", "
      "\"{port}\"]\n");
  EXPECT_THAT(
      Lines(problems),
      ::testing::ElementsAre(
          Path("user.toml") + ":2: warning: workers.cpu.argv: the worker program 'my-worker' is "
                              "not an executable in PATH: spawning a cpu worker fails",
          Path("user.toml") + ":5: warning: workers.cuda.argv lacks the placeholder {gpu}: every "
                              "worker of this backend uses the first device",
          Path("user.toml") + ":5: warning: workers.cuda.argv: the worker program "
                              "'llorch-cuda-candled' is not an executable in PATH: spawning a "
                              "cuda worker fails"));
  EXPECT_EQ(problems[1].fix,
            "add the worker's flag and the placeholder: \"--cuda-device\", \"{gpu}\" (as the "
            "default template does)");

  AddProgram("w");
  problems = HostProblems("[workers.cpu]\nargv = [\"w\", \"{model_path}\"]\n");
  std::vector<std::string> lines = Lines(problems);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[0], HasSubstr(":2: error: workers.cpu.argv lacks the placeholder {port}"));
  EXPECT_THAT(lines[1], HasSubstr(":2: error: workers.cpu.argv lacks the placeholder "
                                  "{callback_url}: the worker never reports ready"));
  EXPECT_THAT(lines[2], HasSubstr(":2: error: workers.cpu.argv lacks the placeholder {worker_id}"));
}

TEST_F(ConfigCheckTest, PathsMustExistOrBeCreatable) {
  std::vector<ConfigProblem> problems =
      HostProblems("repo_root = \"nowhere\"\ncatalog = \"missing.toml\"\n");
  std::vector<std::string> lines = Lines(problems);
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0],
            Path("user.toml") + ":1: error: repo_root " + Path("work/nowhere") + " does not exist");
  EXPECT_THAT(lines[1], HasSubstr(":2: error: "));
  EXPECT_THAT(lines[1], HasSubstr("missing.toml"));

  if (geteuid() == 0) GTEST_SKIP() << "root writes everywhere";
  fs::create_directories(Path("locked"));
  fs::permissions(Path("locked"), fs::perms::owner_read | fs::perms::owner_exec);
  problems = HostProblems("models_dir = \"" + Path("locked/models") + "\"\n\nstate_dir = \"" +
                          Path("work/.git/HEAD") + "\"\n");
  fs::permissions(Path("locked"), fs::perms::owner_all);
  lines = Lines(problems);
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0], Path("user.toml") + ":1: error: models_dir " + Path("locked/models") +
                          " does not exist and cannot be created: " + Path("locked") +
                          " is not writable by this agent (uid " + std::to_string(geteuid()) + ")");
  EXPECT_EQ(lines[1], Path("user.toml") + ":3: error: state_dir " + Path("work/.git/HEAD") +
                          " is not a directory");
}

TEST_F(ConfigCheckTest, TheCatalogsLockFileIsCheckedWithItsLine) {
  testing::WriteFileBytes(Path("work/c.toml"),
                          "[[models]]\nid = \"tiny\"\nname = \"T\"\nrepo = \"o/t\"\nfile = "
                          "\"t.gguf\"\ndir = \"t\"\nsize_bytes = 1\n");
  testing::WriteFileBytes(Path("work/c.lock.toml"), "version = 1\n[models.tiny]\nrepo = \"o/t\"\n");
  std::vector<std::string> lines = Lines(HostProblems("catalog = \"c.toml\"\n"));
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr(":1: error: " + Path("work/c.lock.toml") +
                                  ":2: model 'tiny': missing required key 'revision'"));
}

TEST_F(ConfigCheckTest, TheDefaultModelMustBeInTheCatalogAndHfNeedsItsProgram) {
  std::vector<ConfigProblem> problems =
      HostProblems("[download]\nbackend = \"hf\"\n[workers]\ndefault_model = \"tinylama\"\n");
  std::vector<std::string> lines = Lines(problems);
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0], Path("user.toml") +
                          ":4: error: workers.default_model 'tinylama' is not in the catalog (did "
                          "you mean 'tinyllama'?)");
  EXPECT_EQ(lines[1],
            "default: error: download.backend is \"hf\" but download.hf_command 'hf' "
            "is not an executable in PATH: every download fails");
}

// Token and TLS files for the agent and the CLI, made as docs/api.md makes them: mode 0600 keys
// and tokens, one CA for the agent's and the client's certificates.
class AccessFilesTest : public ConfigCheckTest {
 protected:
  AccessFilesTest() {
    fs::create_directories(Path("tls"));
    llorch::testing::MakeCertificate(Path("tls"), "ca", "server", "server");
    llorch::testing::MakeCertificate(Path("tls"), "ca", "client", "client");
    Token("admin.token", "0123456789abcdef0123456789abcdef");
    Token("read-only.token", "fedcba9876543210fedcba9876543210");
  }
  void Token(const std::string& name, const std::string& token) {
    Write("tls/" + name, token + "\n");
    fs::permissions(Path("tls/" + name), fs::perms::owner_read | fs::perms::owner_write);
  }
  // A configuration naming the files (`tls/NAME`) for every key of `files`, one a line.
  std::string Toml(const std::vector<std::pair<std::string, std::string>>& files) {
    std::string agent = "[agent]\n", client = "[client]\n";
    for (const auto& [key, name] : files) {
      std::string& table = key.rfind("agent.", 0) == 0 ? agent : client;
      table += key.substr(key.find('.') + 1) + " = \"" + Path("tls/" + name) + "\"\n";
    }
    return agent + client;
  }
  const std::vector<std::pair<std::string, std::string>> all_ = {
      {"agent.admin_token_file", "admin.token"}, {"agent.read_only_token_file", "read-only.token"},
      {"agent.tls_cert_file", "server.pem"},     {"agent.tls_key_file", "server.key"},
      {"agent.tls_client_ca_file", "ca.pem"},    {"client.token_file", "admin.token"},
      {"client.tls_ca_file", "ca.pem"},          {"client.tls_cert_file", "client.pem"},
      {"client.tls_key_file", "client.key"}};
};

TEST_F(AccessFilesTest, FilesMadeAsDocumentedHaveNoFinding) {
  EXPECT_THAT(Lines(HostProblems(Toml(all_))), IsEmpty());
}

TEST_F(AccessFilesTest, TokenFilesAreReadAsTheAgentReadsThemEachFindingAtItsLine) {
  fs::permissions(Path("tls/admin.token"), fs::perms::others_read, fs::perm_options::add);
  Token("short.token", "abc");
  std::vector<ConfigProblem> problems =
      HostProblems(Toml({{"agent.admin_token_file", "admin.token"},
                         {"agent.read_only_token_file", "missing.token"},
                         {"client.token_file", "short.token"}}));
  std::vector<std::string> lines = Lines(problems);
  ASSERT_EQ(lines.size(), 3u) << ::testing::PrintToString(lines);
  EXPECT_EQ(lines[0], Path("user.toml") +
                          ":2: error: agent.admin_token_file: " + Path("tls/admin.token") +
                          " has mode 0604: a token file must not be readable by other users");
  EXPECT_EQ(problems[0].fix,
            "chmod 600 " + Path("tls/admin.token") + " (or 640 with a group that needs it)");
  EXPECT_EQ(lines[1], Path("user.toml") + ":3: error: agent.read_only_token_file: " +
                          Path("tls/missing.token") + ": the token file does not exist");
  EXPECT_THAT(lines[2], HasSubstr(":5: error: client.token_file: " + Path("tls/short.token") +
                                  " must hold one token of at least 16 printable characters"));
}

TEST_F(AccessFilesTest, TheSameTokenForBothRolesIsAnError) {
  Token("read-only.token", "0123456789abcdef0123456789abcdef");
  std::vector<std::string> lines = Lines(HostProblems(Toml(all_)));
  ASSERT_EQ(lines.size(), 1u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr(":3: error: agent.admin_token_file and "
                                  "agent.read_only_token_file hold the same token"));
}

TEST_F(AccessFilesTest, AKeyOthersMayReadOrOfAnotherCertificateIsFound) {
  fs::permissions(Path("tls/server.key"), fs::perms::others_read, fs::perm_options::add);
  fs::permissions(Path("tls/client.key"), fs::perms::others_read, fs::perm_options::add);
  std::vector<ConfigProblem> problems = HostProblems(Toml({{"agent.tls_cert_file", "server.pem"},
                                                           {"agent.tls_key_file", "server.key"},
                                                           {"client.tls_ca_file", "ca.pem"},
                                                           {"client.tls_cert_file", "client.pem"},
                                                           {"client.tls_key_file", "server.key"}}));
  std::vector<std::string> lines = Lines(problems);
  ASSERT_EQ(lines.size(), 3u) << ::testing::PrintToString(lines);
  // The agent refuses a key others may read; the CLI uses it, so for it a warning.
  EXPECT_EQ(lines[0], Path("user.toml") +
                          ":3: error: agent.tls_key_file: " + Path("tls/server.key") +
                          " has mode 0604: a private key must not be readable by other users");
  EXPECT_EQ(problems[0].fix, "chmod 600 " + Path("tls/server.key"));
  EXPECT_THAT(lines[1], HasSubstr(":7: warning: client.tls_key_file: " + Path("tls/server.key") +
                                  " has mode 0604"));
  EXPECT_EQ(lines[2], Path("user.toml") + ":7: error: client.tls_key_file: " +
                          Path("tls/server.key") + " is not the key of the certificate in " +
                          Path("tls/client.pem") + " (client.tls_cert_file)");
}

TEST_F(AccessFilesTest, CertificatesMustParseAndBeValidNow) {
  Write("tls/not-pem.pem", "hello\n");
  Write("tls/garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  llorch::testing::CommandResult expired = llorch::testing::RunCommand(
      {"openssl", "x509", "-req", "-in", Path("tls/server.csr"), "-CA", Path("tls/ca.pem"),
       "-CAkey", Path("tls/ca.key"), "-days", "-1", "-out", Path("tls/expired.pem")});
  ASSERT_EQ(expired.exit_code, 0) << expired.err;
  std::vector<ConfigProblem> problems =
      HostProblems(Toml({{"agent.tls_cert_file", "expired.pem"},
                         {"agent.tls_key_file", "server.key"},
                         {"agent.tls_client_ca_file", "garbage.pem"},
                         {"client.tls_ca_file", "not-pem.pem"}}));
  std::vector<std::string> lines = Lines(problems);
  ASSERT_EQ(lines.size(), 3u) << ::testing::PrintToString(lines);
  // Served all the same (clients refuse it): a warning; the key is still its own.
  EXPECT_THAT(lines[0], HasSubstr(":2: warning: agent.tls_cert_file: " + Path("tls/expired.pem") +
                                  ": its certificate expired on "));
  EXPECT_EQ(lines[1], Path("user.toml") + ":4: error: agent.tls_client_ca_file: " +
                          Path("tls/garbage.pem") + " holds no certificate OpenSSL can read");
  EXPECT_EQ(lines[2], Path("user.toml") + ":6: error: client.tls_ca_file: " +
                          Path("tls/not-pem.pem") + " is not a PEM file");
}

TEST_F(AccessFilesTest, HalfATlsPairIsAnError) {
  std::vector<std::string> lines = Lines(HostProblems(
      Toml({{"agent.tls_key_file", "server.key"}, {"agent.tls_client_ca_file", "ca.pem"}})));
  ASSERT_EQ(lines.size(), 2u) << ::testing::PrintToString(lines);
  EXPECT_THAT(lines[0], HasSubstr(":3: error: agent.tls_client_ca_file is set without "
                                  "agent.tls_cert_file and agent.tls_key_file"));
  EXPECT_THAT(lines[1], HasSubstr(":2: error: agent.tls_key_file is set without "
                                  "agent.tls_cert_file: TLS needs both"));
}

TEST_F(ConfigCheckTest, TheResponseSortsFindingsIntoTheirFilesAndShowsEveryValueWithItsOrigin) {
  Write("user.toml", "modles_dir = \"m\"\n[workers]\nport_first = 40000\nport_last = 40100\n");
  sources_.env["LLORCH_LOG_LEVEL"] = "loud";
  sources_.flags = {{"models_dir", "--models-dir", {Path("models")}}};
  v1::CheckConfigResponse response = CheckConfiguration(sources_, host_);
  EXPECT_FALSE(response.ok());
  EXPECT_EQ(response.errors(), 3u);
  EXPECT_EQ(response.warnings(), 0u);
  ASSERT_EQ(response.files_size(), 2);
  EXPECT_EQ(response.files(0).path(), Path("etc/pool.toml"));
  EXPECT_EQ(response.files(0).layer(), v1::CONFIG_LAYER_SYSTEM_FILE);
  EXPECT_FALSE(response.files(0).exists());
  EXPECT_TRUE(response.files(0).ok());
  const v1::ConfigFile& user = response.files(1);
  EXPECT_EQ(user.layer(), v1::CONFIG_LAYER_USER_FILE);
  EXPECT_TRUE(user.exists());
  EXPECT_FALSE(user.ok());
  ASSERT_EQ(user.problems_size(), 2);
  EXPECT_EQ(user.problems(0).line(), 1u);
  EXPECT_EQ(user.problems(0).fix(), "rename it to 'models_dir'");
  EXPECT_EQ(user.problems(0).severity(), v1::CONFIG_SEVERITY_ERROR);
  EXPECT_EQ(user.problems(1).line(), 3u);
  EXPECT_EQ(user.problems(1).key(), "workers.port_first");
  ASSERT_EQ(response.problems_size(), 1);
  EXPECT_EQ(response.problems(0).path(), "env LLORCH_LOG_LEVEL");

  ASSERT_EQ(response.values_size(), static_cast<int>(ConfigKeys().size()));
  for (int i = 1; i < response.values_size(); ++i) {
    EXPECT_LT(response.values(i - 1).key(), response.values(i).key());
  }
  auto value_of = [&](const std::string& key) {
    for (const v1::ConfigValue& value : response.values()) {
      if (value.key() == key) return value;
    }
    return v1::ConfigValue();
  };
  EXPECT_EQ(value_of("workers.port_last").value(), "40100");
  EXPECT_EQ(value_of("workers.port_last").origin(), Path("user.toml"));
  EXPECT_EQ(value_of("workers.port_last").line(), 4u);
  EXPECT_EQ(value_of("workers.port_last").layer(), v1::CONFIG_LAYER_USER_FILE);
  EXPECT_EQ(value_of("models_dir").origin(), "flag --models-dir");
  EXPECT_EQ(value_of("models_dir").layer(), v1::CONFIG_LAYER_FLAG);
  EXPECT_EQ(value_of("state_dir").layer(), v1::CONFIG_LAYER_ENV);
  EXPECT_EQ(value_of("agent.log_level").value(), "\"info\"");
  EXPECT_EQ(value_of("agent.log_level").layer(), v1::CONFIG_LAYER_DEFAULT);
}

}  // namespace
}  // namespace llorch
