// Operations as an operator follows them with a running pool-agent, installed binaries and the
// fake Hub (a download that stays running, its CDN stalled): Ctrl-C in the client that started a
// download cancels it, Ctrl-C in a second `models download` that joined it or in `ops watch`
// only stops watching; --detach returns the operation id that `ops get` shows (refused in
// standalone mode); `ops list` says when each started, how long it ran and who started it, and
// `ops list --watch` follows operations as they start and end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/address.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"

namespace llorch::testing {
namespace {

using ::testing::ContainsRegex;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kSize = 8 << 20;
constexpr char kRepo[] = "owner/Tiny-GGUF";
constexpr char kFile[] = "tiny.Q4_K_M.gguf";

class OpsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.AddFile(kRepo, kFile, GgufFileOfSize(kSize, 11));
    WriteFileBytes(env_.Path("catalog.toml"),
                   absl::StrCat("[[models]]\nid = \"tiny\"\nname = \"Tiny\"\nrepo = \"", kRepo,
                                "\"\nfile = \"", kFile, "\"\ndir = \"tiny\"\nsize_bytes = ", kSize,
                                "\nverified = true\n"));
    env_.env()["LLORCH_CATALOG"] = env_.Path("catalog.toml");
    env_.env()["HF_ENDPOINT"] = hub_.endpoint();
    // The CDN stalls every response after 1 MiB: the download keeps running until cancelled
    // (destroying the hub ends the stalls).
    hub_.SetFaults({.stall_after_bytes = 1 << 20, .stall_count = 1000});
    agent_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{InstalledBinary("pool-agent")}, Options(), env_.Path("agent.log"));
    ASSERT_TRUE(WaitFor([&] { return UnixSocketAccepts(socket()); }))
        << ReadFileBytes(env_.Path("agent.log"));
  }

  std::string socket() const { return env_.Path("run/llorch/pool-agent.sock"); }

  CommandOptions Options() {
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = env_.Path("work");
    return options;
  }

  // `llorch-pool ARGS...` in the background, its output (stdout and stderr) in `log`.
  std::unique_ptr<BackgroundProcess> Background(const std::vector<std::string>& args,
                                                const std::string& log) {
    std::vector<std::string> argv = {InstalledBinary("llorch-pool")};
    argv.insert(argv.end(), args.begin(), args.end());
    return std::make_unique<BackgroundProcess>(argv, Options(), env_.Path(log));
  }

  // The operation as `llorch-pool ops get ID -o json` shows it.
  nlohmann::json Get(const std::string& id) const {
    return nlohmann::json::parse(env_.Run({"ops", "get", id, "-o", "json"}).out, nullptr, false);
  }
  // The id of the newest operation once it runs, as `ops list -o json` shows it.
  std::string RunningId() const {
    std::string id;
    WaitFor([&] {
      const nlohmann::json list =
          nlohmann::json::parse(env_.Run({"ops", "list", "-o", "json"}).out, nullptr, false);
      if (!list.contains("operations") || list["operations"].empty()) return false;
      if (list["operations"][0].value("state", "") != "OPERATION_STATE_RUNNING") return false;
      id = list["operations"][0].value("id", "");
      return true;
    });
    return id;
  }

  E2eEnvironment env_;
  FakeHub hub_;
  std::unique_ptr<BackgroundProcess> agent_;
};

TEST_F(OpsE2eTest, CtrlCInAJoinerOrAWatcherLeavesTheDownloadRunningAndTheStartersCancelsIt) {
  auto starter = Background({"models", "download", "tiny"}, "starter.log");
  const std::string id = RunningId();
  ASSERT_FALSE(id.empty()) << ReadFileBytes(env_.Path("starter.log"));
  auto joiner = Background({"models", "download", "tiny"}, "joiner.log");
  auto watcher = Background({"ops", "watch", id}, "watcher.log");
  // Three streams follow it: the starter's, the joiner's and the watcher's.
  ASSERT_TRUE(WaitFor([&] { return Get(id).value("watchers", 0) == 3; })) << Get(id);
  ASSERT_TRUE(WaitFor([&] {
    return ReadFileBytes(env_.Path("joiner.log")).find("joined " + id) != std::string::npos;
  })) << ReadFileBytes(env_.Path("joiner.log"));

  EXPECT_EQ(joiner->Stop(SIGINT), 130);
  EXPECT_EQ(watcher->Stop(SIGINT), 130);
  for (const char* log : {"joiner.log", "watcher.log"}) {
    const std::string text = ReadFileBytes(env_.Path(log));
    EXPECT_THAT(text, HasSubstr("stopped watching " + id +
                                "; it goes on in the agent: "
                                "`llorch-pool ops watch " +
                                id + "` follows it again"))
        << log;
    EXPECT_THAT(text, Not(HasSubstr("cancelling"))) << log;
  }
  // The download goes on, followed by the client that started it alone.
  EXPECT_TRUE(WaitFor([&] { return Get(id).value("watchers", 0) == 1; })) << Get(id);
  const nlohmann::json running = Get(id);
  EXPECT_EQ(running.value("state", ""), "OPERATION_STATE_RUNNING") << running;
  EXPECT_FALSE(starter->Exited());
  EXPECT_THAT(running.value("started_by", ""),
              HasSubstr(absl::StrCat("`llorch-pool models download` (pid ", starter->pid())));
  EXPECT_THAT(running.value("started_by_peer", ""), ::testing::StartsWith("unix:"));

  // `ops list`: when it started, how long it has run, its state and who started it.
  const CommandResult list = env_.Run({"ops", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, ContainsRegex("ID +KIND +TARGET +STATE +STARTED +ELAPSED +PROGRESS +"
                                      "STARTED BY"));
  EXPECT_THAT(list.out,
              ContainsRegex(absl::StrCat(id,
                                         " +model\\.download +tiny +running +[0-9]{2}:[0-9]{2}:"
                                         "[0-9]{2} +[0-9ms]+ .*`llorch-pool models download` "
                                         "\\(pid ",
                                         starter->pid(), " on .*, uid [0-9]+\\)")));

  // The starter's Ctrl-C cancels it.
  EXPECT_EQ(starter->Stop(SIGINT), 130);
  EXPECT_THAT(ReadFileBytes(env_.Path("starter.log")), HasSubstr("cancelling " + id));
  EXPECT_TRUE(WaitFor([&] { return Get(id).value("state", "") == "OPERATION_STATE_CANCELLED"; }))
      << Get(id);
}

TEST_F(OpsE2eTest, DetachReturnsTheOperationIdThatOpsGetShowsAndOpsListWatchFollowsIt) {
  auto follow = Background({"ops", "list", "--watch"}, "follow.log");
  ASSERT_TRUE(WaitFor([&] {
    return ReadFileBytes(env_.Path("follow.log")).find("No operations.") != std::string::npos;
  })) << ReadFileBytes(env_.Path("follow.log"));

  const CommandResult detached = env_.Run({"models", "download", "tiny", "--detach"});
  ASSERT_EQ(detached.exit_code, 0) << detached.err;
  EXPECT_THAT(detached.out, ContainsRegex("^op-[0-9a-f]{8}\n$"));
  const std::string id(absl::StripSuffix(detached.out, "\n"));
  EXPECT_THAT(detached.err, HasSubstr("started " + id +
                                      "; it goes on in the agent: "
                                      "`llorch-pool ops watch " +
                                      id + "` follows it"));
  const nlohmann::json operation = Get(id);
  EXPECT_EQ(operation.value("kind", ""), "model.download") << operation;
  EXPECT_THAT(operation.value("state", ""),
              ::testing::AnyOf("OPERATION_STATE_PENDING", "OPERATION_STATE_RUNNING"));

  // The same download again joins it; -o json says so.
  const CommandResult again = env_.Run({"models", "download", "tiny", "--detach", "-o", "json"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const nlohmann::json joined = nlohmann::json::parse(again.out, nullptr, false);
  EXPECT_EQ(joined.value("operation_id", ""), id) << again.out;
  EXPECT_EQ(joined.value("joined", false), true) << again.out;

  // The follower prints a line as it starts, and another as it ends, cancelled from another
  // terminal.
  ASSERT_TRUE(WaitFor([&] {
    return ReadFileBytes(env_.Path("follow.log")).find("(started by") != std::string::npos;
  })) << ReadFileBytes(env_.Path("follow.log"));
  ASSERT_EQ(env_.Run({"ops", "cancel", id}).exit_code, 0);
  ASSERT_TRUE(WaitFor([&] {
    return ReadFileBytes(env_.Path("follow.log")).find(id + "  model.download  tiny  cancelled") !=
           std::string::npos;
  })) << ReadFileBytes(env_.Path("follow.log"));
  EXPECT_THAT(ReadFileBytes(env_.Path("follow.log")),
              ContainsRegex(id + "  model\\.download  tiny  (pending|running)  \\(started by "
                                 "`llorch-pool models download`"));
  EXPECT_EQ(follow->Stop(SIGINT), 130);

  // Without an agent the operation would end with the command: refused, nothing started.
  const CommandResult standalone =
      env_.Run({"--standalone", "models", "download", "tiny", "--detach"});
  EXPECT_EQ(standalone.exit_code, 2);
  EXPECT_THAT(standalone.err, HasSubstr("--detach needs a running agent"));
  EXPECT_THAT(standalone.err, HasSubstr("hint: start `pool-agent`"));
}

}  // namespace
}  // namespace llorch::testing
