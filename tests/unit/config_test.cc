// Tests for the layered configuration (common/config.h), the bounded file reader
// (common/file_read.h), the XDG path helpers (common/paths.h), the worker argv template rules
// (common/worker_template.h)
// and the "did you mean" helper (common/strings.h). Files are written to a fresh mkdtemp
// directory per test; the environment is always injected, never read.
#include "common/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/file_read.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/worker_template.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;

class TempDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (fs::temp_directory_path() / "llorch-config-test-XXXXXX").string();
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }

  // Writes `text` to `name` under the temp dir and returns its path.
  std::string Write(const std::string& name, const std::string& text) {
    fs::path path = dir_ / name;
    fs::create_directories(path.parent_path());
    std::ofstream(path) << text;
    return path.string();
  }
  std::string Path(const std::string& name) const { return (dir_ / name).string(); }

  // Sources whose system and user files live in the temp dir (and do not exist yet).
  ConfigSources Sources() const {
    ConfigSources sources;
    sources.system_file = Path("etc/pool.toml");
    sources.user_file = Path("home/.config/llorch/pool.toml");
    return sources;
  }

  fs::path dir_;
};

using ConfigTest = TempDirTest;
using PathsTest = TempDirTest;

// --- strings.h ---------------------------------------------------------------------------------

TEST(ClosestMatchTest, SuggestsTheKeyWithSwappedLetters) {
  EXPECT_EQ(ClosestMatch("modles_dir", {"repo_root", "models_dir", "state_dir"}), "models_dir");
  EXPECT_EQ(ClosestMatch("agnet", {"agent", "client"}), "agent");
}

TEST(ClosestMatchTest, SuggestsAMissingLetterAndIgnoresCase) {
  EXPECT_EQ(ClosestMatch("qwn", {"tinyllama", "qwen", "qwen-fp16"}), "qwen");
  EXPECT_EQ(ClosestMatch("JSON", {"table", "json"}), "json");
}

TEST(ClosestMatchTest, SuggestsNothingWhenNoCandidateIsClose) {
  EXPECT_EQ(ClosestMatch("loud", {"trace", "debug", "info", "warn", "error", "off"}), "");
  EXPECT_EQ(ClosestMatch("anything", {}), "");
}

TEST(ClosestMatchTest, PrefersTheEarlierCandidateOnATie) {
  EXPECT_EQ(ClosestMatch("ab", {"ax", "ay"}), "ax");
}

TEST(EditDistanceTest, CountsInsertionsDeletionsSubstitutionsAndSwaps) {
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("ab", "ba"), 1u);
  EXPECT_EQ(EditDistance("Agent", "agent"), 0u);
}

TEST(DidYouMeanTest, FormatsTheSuggestionOrNothing) {
  EXPECT_EQ(DidYouMean("lisen", {"address", "listen"}), " (did you mean 'listen'?)");
  EXPECT_EQ(DidYouMean("zzzzzz", {"address", "listen"}), "");
}

// --- paths.h -----------------------------------------------------------------------------------

TEST(UserConfigFileTest, UsesXdgConfigHome) {
  EXPECT_EQ(UserConfigFile({{"XDG_CONFIG_HOME", "/cfg"}, {"HOME", "/home/u"}}),
            "/cfg/llorch/pool.toml");
}

TEST(UserConfigFileTest, FallsBackToDotConfigInHome) {
  EXPECT_EQ(UserConfigFile({{"HOME", "/home/u"}}), "/home/u/.config/llorch/pool.toml");
}

TEST(UserConfigFileTest, IgnoresEmptyAndRelativeXdgConfigHome) {
  EXPECT_EQ(UserConfigFile({{"XDG_CONFIG_HOME", ""}, {"HOME", "/home/u"}}),
            "/home/u/.config/llorch/pool.toml");
  EXPECT_EQ(UserConfigFile({{"XDG_CONFIG_HOME", "cfg"}, {"HOME", "/home/u"}}),
            "/home/u/.config/llorch/pool.toml");
}

TEST(UserConfigFileTest, IsEmptyWithoutHomeOrXdgConfigHome) { EXPECT_EQ(UserConfigFile({}), ""); }

TEST(DefaultStateDirTest, IsVarLibForRoot) {
  EXPECT_EQ(DefaultStateDir({{"XDG_STATE_HOME", "/state"}, {"HOME", "/root"}}, 0),
            "/var/lib/llorch/pool");
}

TEST(DefaultStateDirTest, UsesXdgStateHomeThenHomeForUsers) {
  EXPECT_EQ(DefaultStateDir({{"XDG_STATE_HOME", "/state"}, {"HOME", "/home/u"}}, 1000),
            "/state/llorch/pool");
  EXPECT_EQ(DefaultStateDir({{"HOME", "/home/u"}}, 1000), "/home/u/.local/state/llorch/pool");
  EXPECT_EQ(DefaultStateDir({}, 1000), "/tmp/llorch-1000/state");
  EXPECT_EQ(DefaultStateDir({{"TMPDIR", "/scratch/"}}, 1000), "/scratch/llorch-1000/state");
}

TEST(PrivateTempDirTest, IsInTmpdirOrTmp) {
  EXPECT_EQ(PrivateTempDir({}, 1000), "/tmp/llorch-1000");
  EXPECT_EQ(PrivateTempDir({{"TMPDIR", "/scratch"}}, 1000), "/scratch/llorch-1000");
  EXPECT_EQ(PrivateTempDir({{"TMPDIR", "relative"}}, 1000), "/tmp/llorch-1000");
}

TEST(DefaultSocketPathTest, UsesXdgRuntimeDirWhenSet) {
  EXPECT_EQ(DefaultSocketPath({{"XDG_RUNTIME_DIR", "/run/user/1000"}}, 1000),
            "/run/user/1000/llorch/pool-agent.sock");
  EXPECT_EQ(DefaultSocketPath({{"XDG_RUNTIME_DIR", "/run/user/0"}}, 0),
            "/run/user/0/llorch/pool-agent.sock");
}

TEST(DefaultSocketPathTest, WithoutXdgRuntimeDirIsSystemSocketForRootAndTmpForUsers) {
  EXPECT_EQ(DefaultSocketPath({}, 0), "/run/llorch/pool-agent.sock");
  EXPECT_EQ(DefaultSocketPath({{"XDG_RUNTIME_DIR", "relative"}}, 1000),
            "/tmp/llorch-1000/pool-agent.sock");
  EXPECT_EQ(DefaultSocketPath({{"TMPDIR", "/scratch"}}, 1000),
            "/scratch/llorch-1000/pool-agent.sock");
  EXPECT_EQ(SystemSocketPath(), "/run/llorch/pool-agent.sock");
}

TEST(ResolveModelsDirTest, KeepsAbsolutePathsAndJoinsRelativeOnesToTheRepoRoot) {
  const auto resolve = [](const std::string& models_dir, const std::string& repo_root) {
    Config config;
    EXPECT_TRUE(SetFromFlag(&config, "models_dir", models_dir, "--models-dir").ok());
    return ResolveModelsDir(config, repo_root, "/work", {}, 1000);
  };
  EXPECT_EQ(ResolveModelsDir(Config(), "/srv/llama-orch", "/work", {}, 1000),
            "/srv/llama-orch/.test-models");
  EXPECT_EQ(resolve("/data/models/", "/srv/llama-orch"), "/data/models");
  EXPECT_EQ(resolve("./a/../models/", "/srv/llama-orch/"), "/srv/llama-orch/models");
  EXPECT_EQ(resolve("../shared-models", "/srv/llama-orch"), "/srv/shared-models");
  EXPECT_EQ(resolve("models", ""), "/work/models");  // configured: the working directory's
  Config set_in_code;  // a program's own value, without an origin, counts as configured too
  set_in_code.models_dir = "models";
  EXPECT_EQ(ResolveModelsDir(set_in_code, "", "/work", {{"HOME", "/home/u"}}, 1000),
            "/work/models");
}

TEST(ResolveModelsDirTest, OutsideACheckoutTheDefaultIsTheDataDirectoryNeverTheWorkingOne) {
  const Config config;
  EXPECT_EQ(ResolveModelsDir(config, "", "/work", {{"HOME", "/home/u"}}, 1000),
            "/home/u/.local/share/llorch/models");
  EXPECT_EQ(ResolveModelsDir(config, "", "/work", {{"HOME", "/home/u"}, {"XDG_DATA_HOME", "/data"}},
                             1000),
            "/data/llorch/models");
  EXPECT_EQ(ResolveModelsDir(config, "", "/work", {{"XDG_DATA_HOME", "relative"}}, 1000),
            "/tmp/llorch-1000/models");  // no usable XDG_DATA_HOME or HOME: as the state dir
  EXPECT_EQ(ResolveModelsDir(config, "", "/work", {{"HOME", "/root"}}, 0),
            "/var/lib/llorch/models");
}

TEST_F(PathsTest, AgentPathsAreResolvedAgainstTheWorkingDirectoryAndTheRepoRoot) {
  fs::create_directories(dir_ / "checkout/.git");
  Write("checkout/.git/HEAD", "ref: refs/heads/main\n");
  fs::create_directories(dir_ / "checkout/sub");
  Config config;
  absl::StatusOr<AgentPaths> found = ResolveAgentPaths(config, Path("checkout/sub"), {}, 1000);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->repo_root, fs::canonical(dir_ / "checkout").string());
  EXPECT_EQ(found->models_dir, fs::canonical(dir_ / "checkout").string() + "/.test-models");
  EXPECT_EQ(found->state_dir, "/tmp/llorch-1000/state");

  config.repo_root = "../";
  config.state_dir = "state";
  absl::StatusOr<AgentPaths> relative = ResolveAgentPaths(config, Path("checkout/sub"), {}, 1000);
  ASSERT_TRUE(relative.ok()) << relative.status();
  EXPECT_EQ(relative->repo_root, Path("checkout"));
  EXPECT_EQ(relative->models_dir, Path("checkout/.test-models"));  // need not exist yet
  EXPECT_EQ(relative->state_dir, Path("checkout/sub/state"));
}

TEST_F(PathsTest, AgentPathsThatCannotBeDirectoriesAreBadInputNamingTheirOrigin) {
  const std::string file = Write("file", "x");
  const auto problem = [&](const std::string& key, const std::string& value) {
    Config config;
    EXPECT_TRUE(SetFromFlag(&config, key, value, "--" + key).ok());
    absl::StatusOr<AgentPaths> paths = ResolveAgentPaths(config, dir_.string(), {}, 1000);
    EXPECT_EQ(paths.status().code(), absl::StatusCode::kInvalidArgument) << key << "=" << value;
    EXPECT_TRUE(GetHint(paths.status()).has_value());
    return std::string(paths.status().message());
  };
  EXPECT_EQ(problem("repo_root", Path("missing")),
            "repo_root '" + Path("missing") + "' (set by flag --repo_root) does not exist");
  EXPECT_EQ(problem("repo_root", file),
            "repo_root '" + file + "' (set by flag --repo_root) is not a directory");
  EXPECT_EQ(problem("models_dir", file),
            "models_dir '" + file + "' (set by flag --models_dir) is not a directory");
  EXPECT_EQ(problem("models_dir", file + "/models"),
            "models_dir '" + file +
                "/models' (set by flag --models_dir) cannot be a directory: a "
                "part of its path is not one");
  EXPECT_EQ(problem("state_dir", file),
            "state_dir '" + file + "' (set by flag --state_dir) is not a directory");
}

TEST(SetFromFlagTest, AnEmptyValueIsBadInputNotTheDefault) {
  for (const char* key : {"repo_root", "models_dir", "catalog", "agent.address"}) {
    Config config;
    absl::Status status = SetFromFlag(&config, key, "", "--flag");
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << key;
    EXPECT_EQ(status.message(), "--flag was given an empty value");
    EXPECT_EQ(config.origin.at(key), "default");
  }
  Config config;
  EXPECT_TRUE(SetFromFlags(&config, {{"models_dir", "--models-dir", std::nullopt}}).ok());
  EXPECT_FALSE(SetFromFlags(&config, {{"models_dir", "--models-dir", ""}}).ok());
}

TEST(ResolvePathTest, NormalizesWithoutTouchingTheDisk) {
  EXPECT_EQ(ResolvePath("x/./y/../z", "/base"), "/base/x/z");
  EXPECT_EQ(ResolvePath("/abs", "/base"), "/abs");
  EXPECT_EQ(ResolvePath("..", "/"), "/");
}

TEST_F(PathsTest, FindGitTopLevelWalksUpToTheDirectoryHoldingDotGit) {
  fs::create_directories(dir_ / "repo/.git");
  Write("repo/.git/HEAD", "ref: refs/heads/main\n");
  fs::create_directories(dir_ / "repo/a/b/c");
  absl::StatusOr<std::string> top = FindGitTopLevel(Path("repo/a/b/c"));
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(*top, fs::canonical(dir_ / "repo").string());
  top = FindGitTopLevel(Path("repo"));
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(*top, fs::canonical(dir_ / "repo").string());
}

TEST_F(PathsTest, FindGitTopLevelAcceptsAGitdirFileAsInWorktreesAndSubmodules) {
  fs::create_directories(dir_ / "repo/.git");
  Write("repo/.git/HEAD", "ref: refs/heads/main\n");
  Write("repo/reference/llama.cpp/.git", "gitdir: ../../.git/modules/llama.cpp\n");
  fs::create_directories(dir_ / "repo/reference/llama.cpp/src");
  absl::StatusOr<std::string> top = FindGitTopLevel(Path("repo/reference/llama.cpp/src"));
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(*top, fs::canonical(dir_ / "repo/reference/llama.cpp").string());
}

TEST_F(PathsTest, FindGitTopLevelIgnoresADotGitThatIsNotARepository) {
  fs::create_directories(dir_ / "repo/.git");
  Write("repo/.git/HEAD", "ref: refs/heads/main\n");
  fs::create_directories(dir_ / "repo/sub/.git");  // empty: no HEAD
  Write("repo/other/.git", "not a gitdir link\n");
  fs::create_directories(dir_ / "repo/other/x");
  absl::StatusOr<std::string> top = FindGitTopLevel(Path("repo/sub"));
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(*top, fs::canonical(dir_ / "repo").string());
  top = FindGitTopLevel(Path("repo/other/x"));
  ASSERT_TRUE(top.ok()) << top.status();
  EXPECT_EQ(*top, fs::canonical(dir_ / "repo").string());
}

TEST_F(PathsTest, FindGitTopLevelIsNotFoundOutsideACheckoutAndForMissingDirectories) {
  fs::create_directories(dir_ / "plain/dir");
  absl::StatusOr<std::string> top = FindGitTopLevel(Path("plain/dir"));
  if (top.ok()) GTEST_SKIP() << "the temp directory is inside a git checkout: " << *top;
  EXPECT_EQ(top.status().code(), absl::StatusCode::kNotFound);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "not inside a git checkout",
                      std::string(top.status().message()));
  EXPECT_TRUE(GetHint(top.status()).has_value());
  EXPECT_EQ(FindGitTopLevel(Path("missing")).status().code(), absl::StatusCode::kNotFound);
}

TEST(EnvironmentSnapshotTest, ContainsTheProcessEnvironment) {
  ASSERT_EQ(setenv("LLORCH_CONFIG_TEST_VARIABLE", "a=b", 1), 0);
  Environment env = EnvironmentSnapshot();
  unsetenv("LLORCH_CONFIG_TEST_VARIABLE");
  EXPECT_EQ(env["LLORCH_CONFIG_TEST_VARIABLE"], "a=b");
}

// --- config.h: layers --------------------------------------------------------------------------

TEST_F(ConfigTest, DefaultsApplyWhenNoFileOrVariableIsPresent) {
  absl::StatusOr<Config> config = LoadConfig(Sources());
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->repo_root, "");
  EXPECT_EQ(config->models_dir, ".test-models");
  EXPECT_EQ(config->state_dir, "");
  EXPECT_EQ(config->catalog, "");
  EXPECT_EQ(config->agent.address, "");
  EXPECT_TRUE(config->agent.listen.empty());
  EXPECT_EQ(config->agent.log_level, "info");
  EXPECT_EQ(config->client.output, "table");
  EXPECT_EQ(config->client.color, "auto");
  EXPECT_EQ(config->download.backend, "native");
  EXPECT_EQ(config->download.hf_command, "hf");
  EXPECT_EQ(config->download.connections, 8);
  EXPECT_EQ(config->download.parallel_min_mib, 64);
  EXPECT_EQ(config->download.stall_timeout_seconds, 30);
  EXPECT_EQ(config->download.max_attempts, 8);
  EXPECT_EQ(config->convert.python, "python3");
  ASSERT_EQ(config->origin.size(), ConfigKeys().size());
  for (const std::string& key : ConfigKeys()) EXPECT_EQ(config->origin.at(key), "default") << key;
}

TEST(ConfigKeysTest, ListsEveryKeyInDocumentationOrder) {
  EXPECT_EQ(ConfigKeys(), (std::vector<std::string>{"repo_root",
                                                    "models_dir",
                                                    "state_dir",
                                                    "catalog",
                                                    "catalog_lock",
                                                    "agent.address",
                                                    "agent.listen",
                                                    "agent.log_level",
                                                    "agent.log_format",
                                                    "agent.socket_group",
                                                    "agent.read_only_socket",
                                                    "agent.read_only_group",
                                                    "agent.admin_token_file",
                                                    "agent.read_only_token_file",
                                                    "agent.tls_cert_file",
                                                    "agent.tls_key_file",
                                                    "agent.tls_client_ca_file",
                                                    "agent.client_cert_role",
                                                    "agent.tls_reload_seconds",
                                                    "agent.max_streams_per_peer",
                                                    "client.output",
                                                    "client.color",
                                                    "client.token_file",
                                                    "client.tls_ca_file",
                                                    "client.tls_cert_file",
                                                    "client.tls_key_file",
                                                    "download.backend",
                                                    "download.hf_command",
                                                    "download.connections",
                                                    "download.parallel_min_mib",
                                                    "download.stall_timeout_seconds",
                                                    "download.max_attempts",
                                                    "git.pull_mode",
                                                    "git.sync_branch",
                                                    "convert.python",
                                                    "workers.default_model",
                                                    "workers.port_first",
                                                    "workers.port_last",
                                                    "workers.callback_port",
                                                    "workers.ready_timeout_seconds",
                                                    "workers.stop_timeout_seconds",
                                                    "workers.log_max_bytes",
                                                    "workers.log_max_files",
                                                    "workers.restart_backoff_initial_ms",
                                                    "workers.restart_backoff_max_ms",
                                                    "workers.start_limit_burst",
                                                    "workers.start_limit_interval_seconds",
                                                    "workers.cpu.argv",
                                                    "workers.cpu.ready",
                                                    "workers.cpu.stop_signal",
                                                    "workers.cuda.argv",
                                                    "workers.cuda.ready",
                                                    "workers.cuda.stop_signal",
                                                    "workers.metal.argv",
                                                    "workers.metal.ready",
                                                    "workers.metal.stop_signal"}));
  EXPECT_EQ(Config().origin.at("agent.listen"), "default");
}

TEST(ConfigDefaultsTest, WorkerArgvDefaultsAreTheRealWorkersFlags) {
  const Config config;
  EXPECT_EQ(config.workers.cpu.argv,
            (std::vector<std::string>{"llorch-cpu-candled", "--worker-id", "{worker_id}", "--model",
                                      "{model_path}", "--port", "{port}", "--callback-url",
                                      "{callback_url}"}));
  EXPECT_THAT(config.workers.cuda.argv, ::testing::IsSupersetOf({"--cuda-device", "{gpu}"}));
  EXPECT_EQ(config.workers.cuda.argv.front(), "llorch-cuda-candled");
  EXPECT_THAT(config.workers.metal.argv, ::testing::IsSupersetOf({"--metal-device", "{gpu}"}));
  EXPECT_EQ(config.workers.metal.argv.front(), "llorch-metal-candled");
  EXPECT_EQ(config.workers.cpu.stop_signal, "SIGINT");
  EXPECT_EQ(config.workers.callback_port, 9201);
}

TEST_F(ConfigTest, AWorkerArgvWithAnUnknownPlaceholderOrNoProgramIsRefused) {
  Config config;
  absl::Status typo =
      MergeConfigText("[workers.cpu]\nargv = [\"llorch-cpu-candled\", \"--port\", \"{prot}\"]\n",
                      "f.toml", &config);
  EXPECT_EQ(typo.message(),
            "f.toml:2: workers.cpu.argv[2]: unknown placeholder '{prot}' (known: {worker_id}, "
            "{model_path}, {gpu}, {port}, {callback_url})");
  absl::Status empty = MergeConfigText("[workers.cuda]\nargv = []\n", "f.toml", &config);
  EXPECT_EQ(empty.message(),
            "f.toml:2: workers.cuda.argv must start with the worker program (a name in PATH or a "
            "path)");
  EXPECT_EQ(config.workers.cpu.argv.front(), "llorch-cpu-candled");
}

TEST_F(ConfigTest, SystemFileOverridesDefaults) {
  ConfigSources sources = Sources();
  Write("etc/pool.toml", R"(repo_root = "/srv/llama-orch"
models_dir = "/srv/models"
state_dir = "/var/lib/llorch/pool"
catalog = "/etc/llorch/catalog.toml"
catalog_lock = "/etc/llorch/catalog.lock.toml"
[agent]
address = "unix:/run/llorch/pool-agent.sock"
listen = ["unix:/run/llorch/pool-agent.sock", "127.0.0.1:9200"]
log_level = "debug"
log_format = "json"
socket_group = "llorch"
read_only_socket = "/run/llorch/pool-agent-ro.sock"
read_only_group = "llorch-ro"
admin_token_file = "/etc/llorch/admin.token"
read_only_token_file = "/etc/llorch/read-only.token"
tls_cert_file = "/etc/llorch/tls/server.pem"
tls_key_file = "/etc/llorch/tls/server.key"
tls_client_ca_file = "/etc/llorch/tls/client-ca.pem"
client_cert_role = "admin"
tls_reload_seconds = 300
max_streams_per_peer = 64
[client]
output = "json"
color = "always"
token_file = "/home/op/.config/llorch/token"
tls_ca_file = "/etc/llorch/tls/ca.pem"
tls_cert_file = "/home/op/.config/llorch/client.pem"
tls_key_file = "/home/op/.config/llorch/client.key"
[download]
backend = "hf"
hf_command = "/opt/hf/bin/hf"
connections = 16
parallel_min_mib = 128
stall_timeout_seconds = 60
max_attempts = 20
[git]
pull_mode = "ff-only"
sync_branch = "release"
[convert]
python = "/usr/bin/python3.11"
[workers]
default_model = "qwen"
port_first = 9000
port_last = 9099
callback_port = 9301
ready_timeout_seconds = 600
stop_timeout_seconds = 45
log_max_bytes = 1048576
log_max_files = 5
restart_backoff_initial_ms = 500
restart_backoff_max_ms = 30000
start_limit_burst = 3
start_limit_interval_seconds = 120
[workers.cpu]
argv = ["/opt/llorch/llorch-cpu-candled", "--worker-id", "{worker_id}", "--port", "{port}"]
ready = "health"
stop_signal = "SIGTERM"
[workers.cuda]
argv = ["llorch-cuda-candled", "--cuda-device", "{gpu}", "--model", "{model_path}"]
ready = "callback"
stop_signal = "SIGINT"
[workers.metal]
argv = ["llorch-metal-candled", "--callback-url", "{callback_url}"]
ready = "health"
stop_signal = "SIGQUIT"
)");
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->repo_root, "/srv/llama-orch");
  EXPECT_EQ(config->models_dir, "/srv/models");
  EXPECT_EQ(config->state_dir, "/var/lib/llorch/pool");
  EXPECT_EQ(config->catalog, "/etc/llorch/catalog.toml");
  EXPECT_EQ(config->agent.address, "unix:/run/llorch/pool-agent.sock");
  EXPECT_EQ(config->agent.listen,
            (std::vector<std::string>{"unix:/run/llorch/pool-agent.sock", "127.0.0.1:9200"}));
  EXPECT_EQ(config->agent.log_level, "debug");
  EXPECT_EQ(config->agent.log_format, "json");
  EXPECT_EQ(config->agent.socket_group, "llorch");
  EXPECT_EQ(config->agent.read_only_group, "llorch-ro");
  EXPECT_EQ(config->agent.admin_token_file, "/etc/llorch/admin.token");
  EXPECT_EQ(config->agent.client_cert_role, "admin");
  EXPECT_EQ(config->agent.tls_reload_seconds, 300);
  EXPECT_EQ(config->agent.max_streams_per_peer, 64);
  EXPECT_EQ(config->client.tls_key_file, "/home/op/.config/llorch/client.key");
  EXPECT_EQ(config->client.output, "json");
  EXPECT_EQ(config->client.color, "always");
  EXPECT_EQ(config->download.backend, "hf");
  EXPECT_EQ(config->download.hf_command, "/opt/hf/bin/hf");
  EXPECT_EQ(config->download.connections, 16);
  EXPECT_EQ(config->download.parallel_min_mib, 128);
  EXPECT_EQ(config->download.stall_timeout_seconds, 60);
  EXPECT_EQ(config->download.max_attempts, 20);
  EXPECT_EQ(config->git.pull_mode, "ff-only");
  EXPECT_EQ(config->git.sync_branch, "release");
  EXPECT_EQ(config->convert.python, "/usr/bin/python3.11");
  EXPECT_EQ(config->workers.default_model, "qwen");
  EXPECT_EQ(config->workers.port_first, 9000);
  EXPECT_EQ(config->workers.port_last, 9099);
  EXPECT_EQ(config->workers.callback_port, 9301);
  EXPECT_EQ(config->workers.ready_timeout_seconds, 600);
  EXPECT_EQ(config->workers.stop_timeout_seconds, 45);
  EXPECT_EQ(config->workers.log_max_bytes, 1048576);
  EXPECT_EQ(config->workers.log_max_files, 5);
  EXPECT_EQ(config->workers.restart_backoff_initial_ms, 500);
  EXPECT_EQ(config->workers.restart_backoff_max_ms, 30000);
  EXPECT_EQ(config->workers.start_limit_burst, 3);
  EXPECT_EQ(config->workers.start_limit_interval_seconds, 120);
  EXPECT_EQ(config->workers.cpu.argv.front(), "/opt/llorch/llorch-cpu-candled");
  EXPECT_EQ(config->workers.cpu.ready, "health");
  EXPECT_EQ(config->workers.cpu.stop_signal, "SIGTERM");
  EXPECT_EQ(config->workers.cuda.argv.size(), 5u);
  EXPECT_EQ(config->workers.metal.stop_signal, "SIGQUIT");
  for (const std::string& key : ConfigKeys()) {
    EXPECT_EQ(config->origin.at(key), sources.system_file) << key;
  }
}

TEST_F(ConfigTest, EachLayerOverridesTheOneBelowKeyByKey) {
  ConfigSources sources = Sources();
  Write("etc/pool.toml",
        "models_dir = \"system\"\nstate_dir = \"system\"\n"
        "catalog = \"system\"\nrepo_root = \"system\"\n");
  Write("home/.config/llorch/pool.toml",
        "models_dir = \"user\"\nstate_dir = \"user\"\ncatalog = \"user\"\n");
  sources.explicit_file =
      Write("extra.toml", "models_dir = \"explicit\"\nstate_dir = \"explicit\"\n");
  sources.env = {{"LLORCH_MODELS_DIR", "env"}};
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->repo_root, "system");
  EXPECT_EQ(config->catalog, "user");
  EXPECT_EQ(config->state_dir, "explicit");
  EXPECT_EQ(config->models_dir, "env");
  EXPECT_EQ(config->origin.at("repo_root"), sources.system_file);
  EXPECT_EQ(config->origin.at("catalog"), sources.user_file);
  EXPECT_EQ(config->origin.at("state_dir"), *sources.explicit_file);
  EXPECT_EQ(config->origin.at("models_dir"), "env LLORCH_MODELS_DIR");
  EXPECT_EQ(config->origin.at("agent.log_level"), "default");

  ASSERT_TRUE(SetFromFlag(&*config, "models_dir", "flag", "--models-dir").ok());
  EXPECT_EQ(config->models_dir, "flag");
  EXPECT_EQ(config->origin.at("models_dir"), "flag --models-dir");
}

TEST_F(ConfigTest, UserFileIsFoundThroughXdgConfigHomeWhenNotGiven) {
  ConfigSources sources = Sources();
  sources.user_file = "";
  sources.env = {{"XDG_CONFIG_HOME", Path("xdg")}, {"HOME", Path("home")}};
  const std::string user_file = Write("xdg/llorch/pool.toml", "[client]\noutput = \"json\"\n");
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->client.output, "json");
  EXPECT_EQ(config->origin.at("client.output"), user_file);
  EXPECT_EQ(ConfigFilePaths(sources), (std::vector<std::string>{sources.system_file, user_file}));
}

TEST_F(ConfigTest, ConfigFilePathsListsTheFilesLowestLayerFirst) {
  ConfigSources sources = Sources();
  sources.explicit_file = "/x/extra.toml";
  EXPECT_EQ(ConfigFilePaths(sources),
            (std::vector<std::string>{sources.system_file, sources.user_file, "/x/extra.toml"}));
}

TEST_F(ConfigTest, MissingSystemAndUserFilesAreFineButAMissingConfigFileIsNotFound) {
  ConfigSources sources = Sources();
  ASSERT_TRUE(LoadConfig(sources).ok());
  sources.explicit_file = Path("nope.toml");
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(config.status().message(),
            *sources.explicit_file + ": the configuration file does not exist");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "--config", GetHint(config.status()).value_or(""));
}

TEST_F(ConfigTest, ADirectoryInPlaceOfAConfigFileIsAnError) {
  ConfigSources sources = Sources();
  fs::create_directories(sources.system_file);
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(),
            sources.system_file + ": the configuration file is a directory, not a regular file");
}

TEST_F(ConfigTest, AnUnreadableConfigFileIsPermissionDeniedWithAHint) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads every file";
  ConfigSources sources = Sources();
  Write("etc/pool.toml", "models_dir = \"x\"\n");
  ASSERT_EQ(chmod(sources.system_file.c_str(), 0), 0);
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, sources.system_file,
                      std::string(config.status().message()));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "chmod", GetHint(config.status()).value_or(""));
}

TEST_F(ConfigTest, DottedKeysAndInlineTablesAreAccepted) {
  Config config;
  ASSERT_TRUE(MergeConfigText("agent.log_level = \"warn\"\nclient = { output = \"json\" }\n",
                              "f.toml", &config)
                  .ok());
  EXPECT_EQ(config.agent.log_level, "warn");
  EXPECT_EQ(config.client.output, "json");
}

TEST_F(ConfigTest, EmptyStringsResetPathsAndTheAgentAddressToTheirDefaults) {
  Config config;
  ASSERT_TRUE(MergeConfigText("catalog = \"/c.toml\"\n[agent]\naddress = \"127.0.0.1:9200\"\n",
                              "system.toml", &config)
                  .ok());
  ASSERT_TRUE(MergeConfigText("catalog = \"\"\n[agent]\naddress = \"\"\nlisten = []\n", "user.toml",
                              &config)
                  .ok());
  EXPECT_EQ(config.catalog, "");
  EXPECT_EQ(config.agent.address, "");
  EXPECT_TRUE(config.agent.listen.empty());
  EXPECT_EQ(config.origin.at("agent.address"), "user.toml");
}

// --- config.h: environment ---------------------------------------------------------------------

TEST_F(ConfigTest, EnvironmentVariablesSetTheirKeys) {
  ConfigSources sources = Sources();
  sources.env = {{"LLORCH_REPO_ROOT", "/srv/repo"},  {"LLORCH_MODELS_DIR", "/srv/models"},
                 {"LLORCH_STATE_DIR", "/srv/state"}, {"LLORCH_CATALOG", "/srv/catalog.toml"},
                 {"LLORCH_AGENT", "127.0.0.1:9200"}, {"LLORCH_LOG_LEVEL", "trace"}};
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->repo_root, "/srv/repo");
  EXPECT_EQ(config->models_dir, "/srv/models");
  EXPECT_EQ(config->state_dir, "/srv/state");
  EXPECT_EQ(config->catalog, "/srv/catalog.toml");
  EXPECT_EQ(config->agent.address, "127.0.0.1:9200");
  EXPECT_EQ(config->agent.log_level, "trace");
  EXPECT_EQ(config->origin.at("repo_root"), "env LLORCH_REPO_ROOT");
  EXPECT_EQ(config->origin.at("agent.address"), "env LLORCH_AGENT");
  EXPECT_EQ(config->origin.at("agent.log_level"), "env LLORCH_LOG_LEVEL");
  EXPECT_EQ(config->origin.at("client.color"), "default");
}

TEST_F(ConfigTest, LegacyModelBaseDirIsUsedWhenModelsDirIsNotSet) {
  Config config;
  ASSERT_TRUE(MergeEnvironment({{"LLORCH_MODEL_BASE_DIR", "/old/models"}}, &config).ok());
  EXPECT_EQ(config.models_dir, "/old/models");
  EXPECT_EQ(config.origin.at("models_dir"), "env LLORCH_MODEL_BASE_DIR");
}

TEST_F(ConfigTest, ModelsDirVariableWinsOverTheLegacyOne) {
  Config config;
  ASSERT_TRUE(
      MergeEnvironment(
          {{"LLORCH_MODEL_BASE_DIR", "/old/models"}, {"LLORCH_MODELS_DIR", "/new/models"}}, &config)
          .ok());
  EXPECT_EQ(config.models_dir, "/new/models");
  EXPECT_EQ(config.origin.at("models_dir"), "env LLORCH_MODELS_DIR");
}

TEST_F(ConfigTest, NoColorTurnsColourOffEvenWhenAFileForcesIt) {
  ConfigSources sources = Sources();
  Write("etc/pool.toml", "[client]\ncolor = \"always\"\n");
  sources.env = {{"NO_COLOR", "1"}};
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->client.color, "never");
  EXPECT_EQ(config->origin.at("client.color"), "env NO_COLOR");
}

TEST_F(ConfigTest, EmptyVariablesCountAsUnset) {
  Config config;
  ASSERT_TRUE(MergeEnvironment(
                  {{"NO_COLOR", ""}, {"LLORCH_MODELS_DIR", ""}, {"LLORCH_LOG_LEVEL", ""}}, &config)
                  .ok());
  EXPECT_EQ(config.client.color, "auto");
  EXPECT_EQ(config.models_dir, ".test-models");
  EXPECT_EQ(config.origin.at("models_dir"), "default");
}

TEST_F(ConfigTest, BadVariableValueNamesTheVariableAndChangesNothing) {
  Config config;
  absl::Status status = MergeEnvironment(
      {{"LLORCH_LOG_LEVEL", "loud"}, {"LLORCH_MODELS_DIR", "/m"}, {"LLORCH_AGENT", "nowhere"}},
      &config);
  ASSERT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring,
                      "env LLORCH_LOG_LEVEL: agent.log_level must be one of trace, debug, "
                      "info, warn, error, off, got 'loud'",
                      std::string(status.message()));
  EXPECT_PRED_FORMAT2(::testing::IsSubstring,
                      "env LLORCH_AGENT: agent.address: invalid address 'nowhere'",
                      std::string(status.message()));
  EXPECT_EQ(config.models_dir, ".test-models");
}

// --- config.h: flags ---------------------------------------------------------------------------

TEST_F(ConfigTest, FlagsOverrideTheEnvironmentAndRecordTheFlag) {
  ConfigSources sources = Sources();
  sources.env = {{"LLORCH_AGENT", "127.0.0.1:9200"}, {"LLORCH_CATALOG", "/env.toml"}};
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  ASSERT_TRUE(SetFromFlag(&*config, "agent.address", "unix:/tmp/a.sock", "--agent").ok());
  ASSERT_TRUE(SetFromFlag(&*config, "catalog", "/flag.toml", "--catalog").ok());
  ASSERT_TRUE(SetFromFlag(&*config, "repo_root", "/repo", "--repo-root").ok());
  ASSERT_TRUE(SetFromFlag(&*config, "client.output", "json", "--output").ok());
  ASSERT_TRUE(SetFromFlag(&*config, "client.color", "never", "--no-color").ok());
  ASSERT_TRUE(SetFromFlag(&*config, "agent.listen",
                          std::vector<std::string>{"unix:/a.sock", "[::1]:9200"}, "--listen")
                  .ok());
  EXPECT_EQ(config->agent.address, "unix:/tmp/a.sock");
  EXPECT_EQ(config->catalog, "/flag.toml");
  EXPECT_EQ(config->repo_root, "/repo");
  EXPECT_EQ(config->client.output, "json");
  EXPECT_EQ(config->client.color, "never");
  EXPECT_EQ(config->agent.listen, (std::vector<std::string>{"unix:/a.sock", "[::1]:9200"}));
  EXPECT_EQ(config->origin.at("agent.address"), "flag --agent");
  EXPECT_EQ(config->origin.at("client.color"), "flag --no-color");
  EXPECT_EQ(config->origin.at("agent.listen"), "flag --listen");
}

TEST_F(ConfigTest, FlagValuesAreValidatedAndABadOneChangesNothing) {
  Config config;
  absl::Status status = SetFromFlag(&config, "client.output", "xml", "--output");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(),
            "flag --output: client.output must be one of table, wide, json, jsonl, got 'xml'");
  EXPECT_EQ(config.client.output, "table");
  EXPECT_EQ(config.origin.at("client.output"), "default");

  status = SetFromFlag(&config, "agent.listen", std::vector<std::string>{"unix:/ok", "9200"},
                       "--listen");
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring,
                      "flag --listen: agent.listen[1]: invalid address '9200'",
                      std::string(status.message()));
  EXPECT_TRUE(config.agent.listen.empty());
}

TEST_F(ConfigTest, AStringFlagForAListKeyBecomesAOneElementList) {
  Config config;
  ASSERT_TRUE(SetFromFlag(&config, "agent.listen", "127.0.0.1:9300", "--listen").ok());
  EXPECT_EQ(config.agent.listen, std::vector<std::string>{"127.0.0.1:9300"});
}

TEST_F(ConfigTest, FlagsForUnknownKeysAreInternalErrors) {
  Config config;
  EXPECT_EQ(SetFromFlag(&config, "modles_dir", "x", "--models-dir").code(),
            absl::StatusCode::kInternal);
  EXPECT_EQ(
      SetFromFlag(&config, "models_dir", std::vector<std::string>{"x"}, "--models-dir").code(),
      absl::StatusCode::kInternal);
}

// --- config.h: errors in files -----------------------------------------------------------------

TEST_F(ConfigTest, UnknownKeyNamesFileAndLineAndSuggestsTheKey) {
  ConfigSources sources = Sources();
  sources.user_file = Write("user.toml", "# models\n\nmodles_dir = \"/m\"\n");
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(config.status().message(),
            sources.user_file + ":3: unknown key 'modles_dir' (did you mean 'models_dir'?)");
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "docs/configuration.md",
                      GetHint(config.status()).value_or(""));
}

TEST_F(ConfigTest, UnknownKeyInsideATableIsNamedWithItsTable) {
  Config config;
  absl::Status status = MergeConfigText("[agent]\nlisen = []\n", "f.toml", &config);
  EXPECT_EQ(status.message(), "f.toml:2: unknown key 'agent.lisen' (did you mean 'agent.listen'?)");
}

TEST_F(ConfigTest, UnknownTableNamesLineAndSuggestsTheTable) {
  Config config;
  absl::Status status =
      MergeConfigText("models_dir = \"m\"\n[agnet]\nlisten = []\n", "f.toml", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "f.toml:2: unknown table 'agnet' (did you mean 'agent'?)");
  status = MergeConfigText("[agent.tls]\ncert = \"x\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(), "f.toml:1: unknown table 'agent.tls'");
}

TEST_F(ConfigTest, KeyInTheWrongTablePointsToWhereItBelongs) {
  Config config;
  absl::Status status = MergeConfigText("log_level = \"debug\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:1: unknown key 'log_level' (did you mean 'agent.log_level'? it belongs in "
            "the [agent] table)");
  status = MergeConfigText("[client]\nmodels_dir = \"x\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: unknown key 'client.models_dir' (did you mean 'models_dir'? it belongs at "
            "the top level, before any [table])");
}

TEST_F(ConfigTest, UnknownKeyWithNothingCloseHasNoSuggestion) {
  Config config;
  absl::Status status = MergeConfigText("gpu_count = 4\n", "f.toml", &config);
  EXPECT_EQ(status.message(), "f.toml:1: unknown key 'gpu_count'");
}

TEST_F(ConfigTest, WrongTypeNamesTheLineAndBothTypes) {
  Config config;
  absl::Status status = MergeConfigText(
      "models_dir = \"m\"\n\n[agent]\nlog_level = \"info\"\nlisten = 9200\n", "f.toml", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(status.message(), "f.toml:5: agent.listen must be an array of strings, got integer");

  status = MergeConfigText("models_dir = 42\n", "f.toml", &config);
  EXPECT_EQ(status.message(), "f.toml:1: models_dir must be a string, got integer");
  status = MergeConfigText("[agent]\nlisten = \"unix:/x\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: agent.listen must be an array of strings, got string (write "
            "[\"unix:/x\"])");
  status = MergeConfigText("agent = true\n", "f.toml", &config);
  EXPECT_EQ(status.message(), "f.toml:1: agent must be a table ([agent]), got boolean");
}

TEST_F(ConfigTest, WrongElementTypeInAListNamesTheElementLine) {
  Config config;
  absl::Status status =
      MergeConfigText("[agent]\nlisten = [\n  \"unix:/a.sock\",\n  9200,\n]\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:4: agent.listen must be an array of strings, got integer at agent.listen[1]");
}

TEST_F(ConfigTest, BadEnumValueListsTheAllowedValues) {
  Config config;
  absl::Status status = MergeConfigText("[agent]\nlog_level = \"loud\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: agent.log_level must be one of trace, debug, info, warn, error, off, got "
            "'loud'");
  status = MergeConfigText("[client]\ncolor = \"allways\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: client.color must be one of auto, always, never, got 'allways' (did you "
            "mean 'always'?)");
}

TEST_F(ConfigTest, ProgramKeysTakeANameOrAPathButNoCommandLine) {
  Config config;
  ASSERT_TRUE(MergeConfigText("[download]\nhf_command = \"/opt/hf venv/bin/hf\"\n[convert]\n"
                              "python = \"python3.11\"\n",
                              "f.toml", &config)
                  .ok());
  EXPECT_EQ(config.download.hf_command, "/opt/hf venv/bin/hf");
  EXPECT_EQ(config.convert.python, "python3.11");
  EXPECT_EQ(config.origin.at("convert.python"), "f.toml");

  absl::Status status =
      MergeConfigText("[convert]\npython = \"python3 -X utf8\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: convert.python must be one program (a name in PATH or a path), not a "
            "command line: got 'python3 -X utf8'");
  status = MergeConfigText("[download]\nhf_command = \"\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: download.hf_command must name a program (a name in PATH or a path)");
  EXPECT_EQ(config.convert.python, "python3.11");  // unchanged by the bad layers
}

TEST_F(ConfigTest, IntegerKeysTakeIntegersInTheirRange) {
  Config config;
  absl::Status status = MergeConfigText("[download]\nconnections = \"8\"\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: download.connections must be an integer, got string (write it without "
            "quotes)");
  status = MergeConfigText("[download]\nconnections = 0\nmax_attempts = 2.5\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:2: download.connections must be between 1 and 64, got 0\n"
            "f.toml:3: download.max_attempts must be an integer, got float");
  EXPECT_EQ(config.download.connections, 8);  // a layer with a problem changes nothing

  ASSERT_TRUE(SetFromFlag(&config, "download.connections", "4", "--connections").ok());
  EXPECT_EQ(config.download.connections, 4);
  EXPECT_EQ(config.origin.at("download.connections"), "flag --connections");
  EXPECT_EQ(ConfigValueAsToml(config, "download.connections"), "4");
  EXPECT_EQ(SetFromFlag(&config, "download.connections", "many", "--connections").message(),
            "flag --connections: download.connections must be an integer, got 'many'");
  EXPECT_EQ(SetFromFlag(&config, "download.connections", "65", "--connections").message(),
            "flag --connections: download.connections must be between 1 and 64, got 65");
  EXPECT_EQ(MergeConfigText("[download]\nbackend = \"curl\"\n", "f.toml", &config).message(),
            "f.toml:2: download.backend must be one of native, hf, got 'curl'");
  EXPECT_EQ(
      MergeConfigText("[workers]\nlog_max_bytes = 100\nlog_max_files = 0\n", "f.toml", &config)
          .message(),
      "f.toml:2: workers.log_max_bytes must be between 1024 and 1099511627776, got 100\n"
      "f.toml:3: workers.log_max_files must be between 1 and 100, got 0");
}

TEST_F(ConfigTest, InvalidAddressesAndAnEmptyModelsDirAreRejected) {
  Config config;
  absl::Status status = MergeConfigText("[agent]\naddress = \"localhost\"\n", "f.toml", &config);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring,
                      "f.toml:2: agent.address: invalid address 'localhost'",
                      std::string(status.message()));
  status = MergeConfigText("[agent]\nlisten = [\"unix:/ok\", \"\"]\n", "f.toml", &config);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "f.toml:2: agent.listen[1]: invalid address ''",
                      std::string(status.message()));
  status = MergeConfigText("models_dir = \"\"\n", "f.toml", &config);
  EXPECT_PRED_FORMAT2(::testing::IsSubstring, "f.toml:1: models_dir must not be empty",
                      std::string(status.message()));
}

TEST_F(ConfigTest, TomlSyntaxErrorNamesLineAndColumn) {
  Config config;
  absl::Status status = MergeConfigText("models_dir = \"m\"\nstate_dir = = 1\n", "f.toml", &config);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(absl::StartsWith(status.message(), "f.toml:2:13: TOML syntax error: "))
      << status.message();
}

TEST_F(ConfigTest, EveryProblemOfAFileIsReportedInFileOrder) {
  Config config;
  absl::Status status = MergeConfigText(
      "zzz = 1\n[client]\noutput = \"yaml\"\n[agent]\nlog_level = 3\n", "f.toml", &config);
  EXPECT_EQ(status.message(),
            "f.toml:1: unknown key 'zzz'\n"
            "f.toml:3: client.output must be one of table, wide, json, jsonl, got 'yaml'\n"
            "f.toml:5: agent.log_level must be a string, got integer");
}

TEST_F(ConfigTest, AFileWithAProblemChangesNothing) {
  Config config;
  absl::Status status =
      MergeConfigText("models_dir = \"/m\"\n[agent]\nlog_level = \"loud\"\n", "f.toml", &config);
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(config.models_dir, ".test-models");
  EXPECT_EQ(config.origin.at("models_dir"), "default");
}

TEST_F(ConfigTest, LoadConfigStopsAtTheFirstBadFile) {
  ConfigSources sources = Sources();
  Write("etc/pool.toml", "[client]\noutput = \"xml\"\n");
  sources.env = {{"LLORCH_LOG_LEVEL", "loud"}};
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(
      config.status().message(),
      sources.system_file + ":2: client.output must be one of table, wide, json, jsonl, got 'xml'");
}

// --- file_read.h: the bounded reader every small input file goes through ----------------------

TEST_F(ConfigTest, ReadRegularFileReadsASmallFileRelativeToADirectory) {
  Write("sub/a.toml", "x = 1\n");
  EXPECT_EQ(ReadRegularFile(Path("sub/a.toml")).value_or("?"), "x = 1\n");
  const int dir_fd = open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  ASSERT_GE(dir_fd, 0);
  EXPECT_EQ(ReadRegularFileAt(dir_fd, "sub/a.toml").value_or("?"), "x = 1\n");
  absl::StatusOr<std::string> missing = ReadRegularFileAt(dir_fd, "sub/b.toml", {.what = "thing"});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "sub/b.toml: the thing does not exist");
  close(dir_fd);
}

TEST_F(ConfigTest, ReadRegularFileRefusesFifosDevicesAndDirectoriesWithoutReading) {
  ASSERT_EQ(mkfifo(Path("fifo").c_str(), 0600), 0);  // nobody writes: a read would block forever
  for (const auto& [path, type] :
       std::vector<std::pair<std::string, std::string>>{{Path("fifo"), "a FIFO (named pipe)"},
                                                        {"/dev/zero", "a character device"},
                                                        {dir_.string(), "a directory"}}) {
    absl::StatusOr<std::string> text = ReadRegularFile(path, {.what = "catalog"});
    EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument) << path;
    EXPECT_EQ(text.status().message(), path + ": the catalog is " + type + ", not a regular file");
    EXPECT_TRUE(GetHint(text.status()).has_value());
  }
}

TEST_F(ConfigTest, ReadRegularFileRefusesFilesOverTheLimitBeforeReadingThem) {
  const std::string big = Write("big.toml", "");
  ASSERT_EQ(truncate(big.c_str(), int64_t{2} << 30), 0);  // sparse: 2 GiB of nothing
  absl::StatusOr<std::string> text = ReadRegularFile(big, {.what = "configuration file"});
  EXPECT_EQ(text.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(text.status().message(),
            big + ": the configuration file is 2147483648 bytes, over the limit of 1 MiB");
  Write("ten.toml", "0123456789");
  EXPECT_EQ(ReadRegularFile(Path("ten.toml"), {.max_bytes = 10}).value_or("?"), "0123456789");
  EXPECT_EQ(ReadRegularFile(Path("ten.toml"), {.max_bytes = 9}).status().message(),
            Path("ten.toml") + ": the file is 10 bytes, over the limit of 9 bytes");
}

TEST_F(ConfigTest, ReadRegularFileFollowsASymlinkOnlyWhenAsked) {
  Write("real.toml", "x");
  fs::create_symlink(Path("real.toml"), Path("link.toml"));
  EXPECT_EQ(ReadRegularFile(Path("link.toml")).value_or("?"), "x");
  absl::StatusOr<std::string> refused =
      ReadRegularFile(Path("link.toml"), {.follow_symlinks = false, .what = "manifest"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(refused.status().message(),
            Path("link.toml") + ": the manifest is a symbolic link, which is not followed here");
}

// --- config.h: check-config helpers ------------------------------------------------------------

TEST_F(ConfigTest, CheckConfigFileReturnsStructuredProblems) {
  const std::string path = Write("f.toml", "modles_dir = \"m\"\n[agent]\nlisten = 1\n");
  std::vector<ConfigProblem> problems = CheckConfigFile(path, /*must_exist=*/false);
  ASSERT_EQ(problems.size(), 2u);
  EXPECT_EQ(problems[0].source, path);
  EXPECT_EQ(problems[0].line, 1);
  EXPECT_EQ(problems[0].message, "unknown key 'modles_dir' (did you mean 'models_dir'?)");
  EXPECT_EQ(problems[1].line, 3);
  EXPECT_EQ(FormatConfigProblem(problems[1]),
            path + ":3: agent.listen must be an array of strings, got integer");

  EXPECT_TRUE(CheckConfigFile(Path("missing.toml"), /*must_exist=*/false).empty());
  problems = CheckConfigFile(Path("missing.toml"), /*must_exist=*/true);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0].line, 0);
  EXPECT_TRUE(CheckConfigText("[client]\noutput = \"json\"\n", "ok.toml").empty());
}

// --- config.h: one walk of the layers for loading and checking ---------------------------------

TEST_F(ConfigTest, WalkingOnCollectsTheProblemsOfEveryLayerAndAppliesTheValidValues) {
  ConfigSources sources = Sources();
  Write("etc/pool.toml", "models_dir = \"/srv/models\"\n[client]\noutput = \"xml\"\n");
  sources.explicit_file = Path("missing.toml");
  sources.env = {{"LLORCH_LOG_LEVEL", "loud"}};
  sources.flags = {{"catalog", "--catalog", {"my.toml"}}, {"agent.address", "--agent", {""}}};

  ConfigWalk walk = WalkConfigLayers(sources, /*keep_going=*/true);
  ASSERT_EQ(walk.problems.size(), 4u);
  EXPECT_EQ(
      FormatConfigProblem(walk.problems[0]),
      sources.system_file + ":3: client.output must be one of table, wide, json, jsonl, got 'xml'");
  EXPECT_EQ(walk.problems[0].key, "client.output");
  EXPECT_EQ(walk.problems[0].fix, "use one of table, wide, json, jsonl (default \"table\")");
  EXPECT_EQ(walk.problems[1].source, Path("missing.toml"));
  EXPECT_EQ(walk.problems[1].fix, "check the path given with --config");
  EXPECT_EQ(walk.problems[2].source, "env LLORCH_LOG_LEVEL");
  EXPECT_EQ(walk.problems[2].key, "agent.log_level");
  EXPECT_EQ(walk.problems[3].source, "flag --agent");
  EXPECT_EQ(walk.problems[3].message, "--agent was given an empty value");
  // The lines, variables and flags without a problem are applied, with their origin and line.
  EXPECT_EQ(walk.config.models_dir, "/srv/models");
  EXPECT_EQ(walk.config.origin.at("models_dir"), sources.system_file);
  EXPECT_EQ(walk.config.origin_line.at("models_dir"), 1);
  EXPECT_EQ(walk.config.catalog, "my.toml");
  EXPECT_EQ(walk.config.origin.at("catalog"), "flag --catalog");
  EXPECT_EQ(walk.config.origin_line.count("catalog"), 0u);
  EXPECT_EQ(walk.config.client.output, "table");
  // Every file that was or would have been read, present or not.
  ASSERT_EQ(walk.files.size(), 3u);
  EXPECT_EQ(walk.files[0].path, sources.system_file);
  EXPECT_EQ(walk.files[0].layer, ConfigLayer::kSystemFile);
  EXPECT_TRUE(walk.files[0].exists);
  EXPECT_EQ(walk.files[1].path, sources.user_file);
  EXPECT_FALSE(walk.files[1].exists);
  EXPECT_EQ(walk.files[2].layer, ConfigLayer::kConfigFile);
  EXPECT_FALSE(walk.files[2].exists);

  // Loading is the same walk, stopping at the first failing layer with its error.
  ConfigWalk stopped = WalkConfigLayers(sources, /*keep_going=*/false);
  EXPECT_EQ(stopped.problems.size(), 1u);
  absl::StatusOr<Config> loaded = LoadConfig(sources);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status(), stopped.first_error);
}

TEST_F(ConfigTest, LoadConfigAppliesTheFlagsLastAndRemembersItsSources) {
  ConfigSources sources = Sources();
  Write("home/.config/llorch/pool.toml", "\n[agent]\nlisten = [\"unix:/a.sock\"]\n");
  sources.env = {{"LLORCH_MODELS_DIR", "/env/models"}};
  sources.flags = {{"models_dir", "--models-dir", {"/flag/models"}},
                   {"agent.listen", "--listen", {"unix:/b.sock", "127.0.0.1:9200"}}};
  absl::StatusOr<Config> config = LoadConfig(sources);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->models_dir, "/flag/models");
  EXPECT_EQ(config->agent.listen, (std::vector<std::string>{"unix:/b.sock", "127.0.0.1:9200"}));
  EXPECT_EQ(config->origin.at("agent.listen"), "flag --listen");
  EXPECT_EQ(config->origin_line.count("agent.listen"), 0u);
  ASSERT_EQ(config->sources.flags.size(), 2u);
  EXPECT_EQ(config->sources.env.at("LLORCH_MODELS_DIR"), "/env/models");

  sources.flags = {{"download.connections", "--connections", {"many"}}};
  absl::StatusOr<Config> bad = LoadConfig(sources);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "flag --connections: download.connections must be an integer, got 'many'");
}

TEST_F(ConfigTest, FileProblemsCarryAFixAndTheirKey) {
  const std::string path =
      Write("f.toml",
            "modles_dir = \"m\"\nlog_level = \"x\"\n[download]\nconnections = \"8\"\nstall = 3\n"
            "[agent]\nlisten = \"unix:/x\"\n");
  std::vector<ConfigProblem> problems = CheckConfigFile(path, /*must_exist=*/false);
  ASSERT_EQ(problems.size(), 5u);
  EXPECT_EQ(problems[0].fix, "rename it to 'models_dir'");
  EXPECT_EQ(problems[0].key, "modles_dir");
  EXPECT_EQ(problems[1].fix, "move it in the [agent] table as 'log_level'");
  EXPECT_EQ(problems[2].message,
            "download.connections must be an integer, got string (write it without quotes)");
  EXPECT_EQ(problems[2].fix, "write it without quotes: connections = 8");
  EXPECT_EQ(problems[3].fix, "remove it (" +
                                 std::string("docs/configuration.md lists every key "
                                             "with its type and allowed values") +
                                 ")");
  EXPECT_EQ(problems[4].line, 7);
  EXPECT_EQ(problems[4].fix, "put it in brackets: listen = [\"unix:/x\"]");
  for (const ConfigProblem& problem : problems) {
    EXPECT_EQ(problem.severity, ConfigProblem::Severity::kError);
  }
  std::vector<ConfigProblem> syntax = CheckConfigText("a = \n", "s.toml");
  ASSERT_EQ(syntax.size(), 1u);
  EXPECT_GT(syntax[0].column, 0);
  EXPECT_FALSE(syntax[0].fix.empty());
}

TEST_F(ConfigTest, TheLayerOfAnOriginIsFoundAmongTheWalkedFiles) {
  ConfigSources sources = Sources();
  sources.explicit_file = Write("given.toml", "");
  ConfigWalk walk = WalkConfigLayers(sources, /*keep_going=*/true);
  EXPECT_EQ(LayerOfOrigin(walk, "default"), ConfigLayer::kDefault);
  EXPECT_EQ(LayerOfOrigin(walk, "env LLORCH_AGENT"), ConfigLayer::kEnv);
  EXPECT_EQ(LayerOfOrigin(walk, "flag --models-dir"), ConfigLayer::kFlag);
  EXPECT_EQ(LayerOfOrigin(walk, sources.system_file), ConfigLayer::kSystemFile);
  EXPECT_EQ(LayerOfOrigin(walk, sources.user_file), ConfigLayer::kUserFile);
  EXPECT_EQ(LayerOfOrigin(walk, *sources.explicit_file), ConfigLayer::kConfigFile);
}

// --- worker_template.h -------------------------------------------------------------------------

TEST(WorkerTemplateTest, TheDefaultTemplatesLackNothing) {
  const Config config;
  EXPECT_TRUE(MissingWorkerPlaceholders("cpu", config.workers.cpu).empty());
  EXPECT_TRUE(MissingWorkerPlaceholders("cuda", config.workers.cuda).empty());
  EXPECT_TRUE(MissingWorkerPlaceholders("metal", config.workers.metal).empty());
}

TEST(WorkerTemplateTest, NamesTheMissingPlaceholdersAndWhetherTheyAreRequired) {
  Config::WorkerBackend backend{{"w", "--model={model_path}"}};
  std::vector<MissingPlaceholder> missing = MissingWorkerPlaceholders("cuda", backend);
  std::vector<std::string> names;
  for (const MissingPlaceholder& placeholder : missing) {
    names.push_back(placeholder.name + (placeholder.required ? "!" : "?"));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"port!", "callback_url!", "worker_id!", "gpu?"}));
  // A worker found ready by GET /health needs no callback; a cpu worker no device.
  backend.ready = "health";
  backend.argv = {"w", "{model_path}", "{port}"};
  EXPECT_TRUE(MissingWorkerPlaceholders("cpu", backend).empty());
}

TEST(FormatConfigProblemTest, LeavesOutZeroLineAndColumn) {
  EXPECT_EQ(FormatConfigProblem({"env LLORCH_AGENT", 0, 0, "bad"}), "env LLORCH_AGENT: bad");
  EXPECT_EQ(FormatConfigProblem({"f.toml", 2, 0, "bad"}), "f.toml:2: bad");
  EXPECT_EQ(FormatConfigProblem({"f.toml", 2, 7, "bad"}), "f.toml:2:7: bad");
}

TEST(ConfigValueAsTomlTest, RendersStringsAndListsAsToml) {
  Config config;
  config.agent.listen = {"unix:/x.sock", "127.0.0.1:9200"};
  config.catalog = "C:\\dir \"quoted\"\n";
  EXPECT_EQ(ConfigValueAsToml(config, "agent.log_level"), "\"info\"");
  EXPECT_EQ(ConfigValueAsToml(config, "agent.listen"), "[\"unix:/x.sock\", \"127.0.0.1:9200\"]");
  EXPECT_EQ(ConfigValueAsToml(config, "catalog"), "\"C:\\\\dir \\\"quoted\\\"\\n\"");
  EXPECT_EQ(ConfigValueAsToml(Config(), "agent.listen"), "[]");
  EXPECT_EQ(ConfigValueAsToml(config, "nope"), "");
}

}  // namespace
}  // namespace llorch
