// `llorch-pool dev check-config` as an operator runs it: the installed binaries, configuration
// files written to a temp dir (the user file through XDG_CONFIG_HOME, others with --config), what
// the user reads and the exit code; and a pool-agent checking its own layers.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/address.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_workers.h"  // UnusedPort

namespace llorch::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;

// The first port of this host's ephemeral range, as the agent reads it.
int EphemeralLow() {
  std::ifstream file("/proc/sys/net/ipv4/ip_local_port_range");
  int low = 32768;
  file >> low;
  return low;
}

class CheckConfigE2eTest : public ::testing::Test {
 protected:
  CheckConfigE2eTest() {
    EXPECT_EQ(RunCommand({"git", "init", "-q", env_.Path("work")}).exit_code, 0);
  }

  std::string Write(const std::string& relative, const std::string& text) {
    const std::string path = env_.Path(relative);
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path) << text;
    return path;
  }
  std::string user_file() const { return env_.Path("config/llorch/pool.toml"); }

  // The line of the values table for `key`, "" when there is none.
  static std::string ValueLine(const std::string& out, const std::string& key) {
    size_t at = out.find("\n" + key + " ");
    if (at == std::string::npos) return "";
    return out.substr(at + 1, out.find('\n', at + 1) - at - 1);
  }

  E2eEnvironment env_;
};

TEST_F(CheckConfigE2eTest, ACleanConfigExitsZeroAndShowsEveryValueWithItsOrigin) {
  Write("config/llorch/pool.toml", "# mine\n[download]\nconnections = 4\n");
  env_.env()["LLORCH_LOG_LEVEL"] = "debug";
  CommandResult result = env_.Run({"--standalone", "dev", "check-config"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[✓] " + user_file() + " (user file): ok\n"));
  EXPECT_THAT(result.out, MatchesRegex("(.|\n)*\\[✓\\] /etc/llorch/pool.toml \\(system file\\): "
                                       "(not present|ok)\n(.|\n)*"));
  EXPECT_THAT(ValueLine(result.out, "download.connections"),
              MatchesRegex("download.connections +" + user_file() + ":3 +4"));
  EXPECT_THAT(ValueLine(result.out, "agent.log_level"),
              MatchesRegex("agent.log_level +env LLORCH_LOG_LEVEL +\"debug\""));
  EXPECT_THAT(ValueLine(result.out, "git.pull_mode"),
              MatchesRegex("git.pull_mode +default +\"rebase\""));
  EXPECT_THAT(ValueLine(result.out, "models_dir"),
              MatchesRegex("models_dir +env LLORCH_MODELS_DIR +\".*/work/.test-models\""));
  EXPECT_THAT(ValueLine(result.out, "catalog"), MatchesRegex("catalog +default +\"\""));
  EXPECT_THAT(result.out, HasSubstr("The configuration is valid"));
  EXPECT_THAT(result.out, Not(HasSubstr("error:")));
}

TEST_F(CheckConfigE2eTest, EachKindOfErrorIsReportedAtItsLineWithItsFixAndExitsOne) {
  const int low = EphemeralLow();
  const std::string file = Write(
      "given.toml",
      "modles_dir = \"m\"\n"           // 1: unknown key
      "repo_root = \"no-such-dir\"\n"  // 2: missing path
      "[download]\n"                   // 3
      "connections = \"8\"\n"          // 4: wrong type
      "[workers]\n"                    // 5
      "port_first = " +
          std::to_string(low + 100) +
          "\n"  // 6: ephemeral
          "port_last = " +
          std::to_string(low + 200) +
          "\n"               // 7
          "[workers.cpu]\n"  // 8
          "argv = [\"/bin/true\", \"--model\", \"{model_path}\", "
          "\"--port\", \"{port}\", \"--worker-id\", \"{worker_id}\"]\n"  // 9: no {callback_url}
          "[agnet]\n"                                                    // 10: unknown table
          "listen = []\n");
  CommandResult result = env_.Run({"--config", file, "dev", "check-config"});
  EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
  // The configuration does not load, yet the command reports instead of refusing.
  EXPECT_THAT(result.err, HasSubstr("note: this command's configuration has errors"));
  EXPECT_THAT(result.out, HasSubstr("[✗] " + file + " (--config file): 6 errors, 0 warnings\n"));
  EXPECT_THAT(result.out,
              HasSubstr(file + ":1: error: unknown key 'modles_dir' (did you mean 'models_dir'?) "
                               "(fix: rename it to 'models_dir')\n"));
  EXPECT_THAT(result.out, HasSubstr(file + ":2: error: repo_root " + env_.Path("work/no-such-dir") +
                                    " does not exist (fix: set repo_root to the llorch "
                                    "checkout"));
  EXPECT_THAT(result.out,
              HasSubstr(file + ":4: error: download.connections must be an integer, got string "
                               "(write it without quotes) (fix: write it without quotes: "
                               "connections = 8)\n"));
  EXPECT_THAT(result.out,
              HasSubstr(file + ":6: error: the worker port range " + std::to_string(low + 100) +
                        "-" + std::to_string(low + 200) +
                        " lies inside the kernel's ephemeral range " + std::to_string(low) + "-"));
  EXPECT_THAT(result.out,
              HasSubstr(file + ":9: error: workers.cpu.argv lacks the placeholder "
                               "{callback_url}: the worker never reports ready (ready = "
                               "\"callback\"), so every spawn times out (fix: add the worker's "
                               "flag and the placeholder: \"--callback-url\", \"{callback_url}\""));
  EXPECT_THAT(result.out,
              HasSubstr(file + ":10: error: unknown table 'agnet' (did you mean 'agent'?) "
                               "(fix: rename it to 'agent')\n"));
  EXPECT_THAT(result.out, HasSubstr("The configuration has errors (6 errors"));
}

TEST_F(CheckConfigE2eTest, WarningsAloneExitZero) {
  Write("config/llorch/pool.toml",
        "[workers.cuda]\n"
        "argv = [\"llorch-cuda-candled\", \"--worker-id\", \"{worker_id}\", \"--model\", "
        "\"{model_path}\", \"--port\", \"{port}\", \"--callback-url\", \"{callback_url}\"]\n");
  CommandResult result = env_.Run({"--standalone", "dev", "check-config"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  EXPECT_THAT(result.out, HasSubstr("[!] " + user_file() + " (user file): 0 errors, "));
  EXPECT_THAT(result.out,
              HasSubstr(user_file() + ":2: warning: workers.cuda.argv lacks the placeholder {gpu}: "
                                      "every worker of this backend uses the first device (fix: "
                                      "add the worker's flag and the placeholder: "
                                      "\"--cuda-device\", \"{gpu}\""));
  EXPECT_THAT(result.out, HasSubstr("The configuration is valid, with warnings"));
}

TEST_F(CheckConfigE2eTest, JsonIsTheResponseMessage) {
  const std::string file = Write("given.toml", "[git]\n\npull_mode = \"squash\"\n");
  env_.env()["LLORCH_LOG_LEVEL"] = "loud";
  CommandResult result = env_.Run({"--config", file, "dev", "check-config", "-o", "json"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  const nlohmann::json response = nlohmann::json::parse(result.out);
  EXPECT_EQ(response["ok"], false);
  EXPECT_EQ(response["errors"], 2);
  EXPECT_EQ(response["warnings"], 0);
  const nlohmann::json& files = response["files"];
  ASSERT_EQ(files.size(), 3u) << result.out;
  EXPECT_EQ(files[0]["layer"], "CONFIG_LAYER_SYSTEM_FILE");
  EXPECT_EQ(files[1]["path"], user_file());
  EXPECT_EQ(files[1]["exists"], false);
  EXPECT_EQ(files[1]["ok"], true);
  EXPECT_EQ(files[2]["path"], file);
  EXPECT_EQ(files[2]["layer"], "CONFIG_LAYER_CONFIG_FILE");
  EXPECT_EQ(files[2]["ok"], false);
  ASSERT_EQ(files[2]["problems"].size(), 1u);
  const nlohmann::json& problem = files[2]["problems"][0];
  EXPECT_EQ(problem["path"], file);
  EXPECT_EQ(problem["line"], 3);
  EXPECT_EQ(problem["key"], "git.pull_mode");
  EXPECT_EQ(problem["severity"], "CONFIG_SEVERITY_ERROR");
  EXPECT_EQ(problem["message"],
            "git.pull_mode must be one of rebase, ff-only, merge, got 'squash'");
  EXPECT_EQ(problem["fix"], "use one of rebase, ff-only, merge (default \"rebase\")");
  ASSERT_EQ(response["problems"].size(), 1u);
  EXPECT_EQ(response["problems"][0]["path"], "env LLORCH_LOG_LEVEL");
  EXPECT_EQ(response["problems"][0]["line"], 0);
  bool found = false;
  for (const nlohmann::json& value : response["values"]) {
    if (value["key"] != "git.pull_mode") continue;
    found = true;
    EXPECT_EQ(value["value"], "\"rebase\"");  // the line with the error is not applied
    EXPECT_EQ(value["layer"], "CONFIG_LAYER_DEFAULT");
  }
  EXPECT_TRUE(found) << result.out;
}

TEST_F(CheckConfigE2eTest, TheAgentChecksItsOwnLayersAndItsOwnPortsCountAsFree) {
  const std::string socket = env_.Path("agent.sock");
  const int port = UnusedPort();
  Write("config/llorch/pool.toml",
        "[workers]\ncallback_port = " + std::to_string(UnusedPort()) + "\n");
  CommandOptions options;
  options.env = env_.env();
  options.working_dir = env_.Path("work");
  Write("admin.token", "0123456789abcdef0123456789\n");
  ASSERT_EQ(chmod(env_.Path("admin.token").c_str(), 0600), 0);
  BackgroundProcess agent(
      {InstalledBinary("pool-agent"), "--listen", "unix:" + socket, "--listen",
       "127.0.0.1:" + std::to_string(port), "--admin-token-file", env_.Path("admin.token")},
      options, env_.Path("agent.log"));
  ASSERT_TRUE(WaitFor([&] { return UnixSocketAccepts(socket); }));
  // The CLI's own layers differ: the agent answers with its own.
  env_.env()["LLORCH_LOG_LEVEL"] = "error";
  CommandResult result =
      env_.Run({"--agent", "unix:" + socket, "dev", "check-config", "-o", "json"});
  EXPECT_EQ(result.exit_code, 0) << result.out << result.err;
  const nlohmann::json response = nlohmann::json::parse(result.out);
  EXPECT_EQ(response["ok"], true) << result.out;
  EXPECT_EQ(response["errors"], 0) << result.out;
  for (const nlohmann::json& value : response["values"]) {
    if (value["key"] == "agent.listen") {
      EXPECT_EQ(value["origin"], "flag --listen");
      EXPECT_EQ(value["layer"], "CONFIG_LAYER_FLAG");
    }
    if (value["key"] == "agent.log_level") {
      EXPECT_EQ(value["layer"], "CONFIG_LAYER_DEFAULT");
    }
  }
  EXPECT_EQ(agent.Stop(SIGINT), 0);
}

}  // namespace
}  // namespace llorch::testing
