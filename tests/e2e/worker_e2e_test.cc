// `llorch-pool worker spawn` and `worker list` as a user runs them: the installed CLI (standalone,
// no agent running), the fake llorch-candled in PATH under the real workers' names, a downloaded
// and verified model, and state kept on disk between separate invocations.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_workers.h"

namespace llorch::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

class WorkerE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string bin = env_.Path("bin");
    WriteWorkerBinDir(bin, FAKE_WORKER, {0});
    env_.env()["PATH"] = bin + ":" + env_.env()["PATH"];
  }
  void TearDown() override { KillRecordedWorkers(state_dir()); }

  std::string state_dir() const { return env_.Path("state/llorch/pool"); }
  void PlaceTinyllama() {
    PlaceModel(env_.models_dir(), "tinyllama", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
  }

  E2eEnvironment env_;
};

TEST_F(WorkerE2eTest, SpawnWaitsUntilReadyAndListShowsTheWorkerInALaterRun) {
  PlaceTinyllama();
  const int port = UnusedPort();
  CommandResult spawn =
      env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port", std::to_string(port)});
  ASSERT_EQ(spawn.exit_code, 0) << spawn.err;
  EXPECT_THAT(spawn.out, HasSubstr("Worker worker-cpu-0 ready: pid "));
  EXPECT_THAT(spawn.out, HasSubstr(absl::StrCat(", port ", port, ", http://localhost:", port)));
  EXPECT_THAT(spawn.out, HasSubstr("log: " + state_dir() + "/logs/worker-cpu-0.log"));
  EXPECT_THAT(spawn.out, HasSubstr("ready in "));
  // It really serves, after the command that started it has exited.
  httplib::Client client("127.0.0.1", port);
  httplib::Result health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);

  CommandResult list = env_.Run({"worker", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("STATE"));
  EXPECT_THAT(list.out, MatchesRegex(absl::StrCat("(.|\n)*worker-cpu-0 +cpu +tinyllama +- +", port,
                                                  " +[0-9]+ +[0-9]+s +ready\n(.|\n)*")));
  CommandResult json = env_.Run({"worker", "list", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  const nlohmann::json workers = nlohmann::json::parse(json.out)["workers"];
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["id"], "worker-cpu-0");
  EXPECT_EQ(workers[0]["state"], "WORKER_STATE_READY");
  CommandResult wide = env_.Run({"worker", "list", "-o", "wide"});
  EXPECT_THAT(wide.out, HasSubstr(absl::StrCat("http://localhost:", port)));
  EXPECT_THAT(wide.out, HasSubstr(state_dir() + "/logs/worker-cpu-0.log"));
}

TEST_F(WorkerE2eTest, AWorkerThatExitsShowsItsExitCodeAndLogTail) {
  PlaceTinyllama();
  env_.env()["FAKE_WORKER_CRASH"] = "7";
  CommandResult spawn = env_.Run(
      {"worker", "spawn", "cpu", "--model", "tinyllama", "--port", std::to_string(UnusedPort())});
  EXPECT_EQ(spawn.exit_code, 1);
  EXPECT_THAT(spawn.err, HasSubstr("error: worker worker-cpu-0 exited with code 7 before it was "
                                   "ready; last log lines:"));
  EXPECT_THAT(spawn.err, HasSubstr("fake worker crashing as asked"));
  EXPECT_THAT(spawn.err,
              HasSubstr("hint: its whole log: " + state_dir() + "/logs/worker-cpu-0.log"));
  CommandResult list = env_.Run({"worker", "list"});
  EXPECT_THAT(list.out, HasSubstr("No workers."));
  CommandResult all = env_.Run({"worker", "list", "--all"});
  EXPECT_THAT(all.out, HasSubstr("failed (exit 7)"));
}

TEST_F(WorkerE2eTest, AWorkerThatDiedWithNobodyWatchingIsListedLost) {
  PlaceTinyllama();
  CommandResult spawn = env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port",
                                  std::to_string(UnusedPort()), "-o", "json"});
  ASSERT_EQ(spawn.exit_code, 0) << spawn.err;
  CommandResult json = env_.Run({"worker", "list", "-o", "json"});
  const int64_t pid =
      std::stoll(nlohmann::json::parse(json.out)["workers"][0]["pid"].get<std::string>());
  ASSERT_EQ(kill(-static_cast<pid_t>(pid), SIGKILL), 0);
  // Reparented to init once its CLI exited; wait for init to reap it.
  for (int i = 0; i < 500 && kill(static_cast<pid_t>(pid), 0) == 0; ++i) usleep(10000);
  EXPECT_THAT(env_.Run({"worker", "list"}).out, HasSubstr("No workers."));
  EXPECT_THAT(env_.Run({"worker", "list", "--all"}).out,
              MatchesRegex("(.|\n)*worker-cpu-0 .* - +- +lost\n(.|\n)*"));
}

TEST_F(WorkerE2eTest, ASpawnThatCannotWorkSaysWhyAndStartsNothing) {
  CommandResult bad_backend = env_.Run({"worker", "spawn", "rocm", "--model", "tinyllama"});
  EXPECT_EQ(bad_backend.exit_code, 2);
  EXPECT_THAT(bad_backend.err, HasSubstr("rocm"));

  CommandResult missing = env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_THAT(missing.err, HasSubstr("error: model tinyllama is not downloaded"));
  EXPECT_THAT(missing.err, HasSubstr("hint: run `llorch-pool models download tinyllama` first"));

  PlaceTinyllama();
  httplib::Server squatter;
  const int taken = squatter.bind_to_any_port("0.0.0.0");
  CommandResult in_use =
      env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port", std::to_string(taken)});
  EXPECT_EQ(in_use.exit_code, 1);
  EXPECT_THAT(in_use.err, HasSubstr(absl::StrCat("error: port ", taken, " is in use")));

  CommandResult metal = env_.Run({"worker", "spawn", "metal", "--model", "tinyllama"});
  EXPECT_EQ(metal.exit_code, 1);
  EXPECT_THAT(metal.err, HasSubstr("only on macOS"));

  CommandResult no_gpu =
      env_.Run({"worker", "spawn", "cuda", "--model", "tinyllama", "--gpu", "1"});
  EXPECT_EQ(no_gpu.exit_code, 1);
  EXPECT_THAT(no_gpu.err, HasSubstr("CUDA GPU 1 does not exist: nvidia-smi lists GPUs 0"));
  EXPECT_THAT(env_.Run({"worker", "list", "--all"}).out, HasSubstr("No workers."));

  ASSERT_EQ(env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port",
                      std::to_string(UnusedPort())})
                .exit_code,
            0);
  CommandResult used_id = env_.Run(
      {"worker", "spawn", "cpu", "--model", "tinyllama", "--port", std::to_string(UnusedPort())});
  EXPECT_EQ(used_id.exit_code, 1);
  EXPECT_THAT(used_id.err, HasSubstr("error: worker worker-cpu-0 is running"));
}

}  // namespace
}  // namespace llorch::testing
