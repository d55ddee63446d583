// `llorch-pool worker spawn` and `worker list` as a user runs them: the installed CLI (standalone,
// no agent running, or with pool-agent), the fake llorch-candled in PATH under the real workers'
// names, a downloaded and verified model, and state kept on disk between separate invocations:
// workers outlive the agent and a new agent re-adopts them; `worker stop` in a later run stops
// what an earlier one started, never a process that merely has a recorded pid, and stops by pid
// the worker processes no state file names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/workers/process_identity.h"
#include "common/address.h"
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
  std::string agent_log() const { return env_.Path("agent.log"); }
  std::string socket() const { return env_.Path("run/llorch/pool-agent.sock"); }
  // Starts pool-agent (on the default socket, so the CLI uses it), with a ready-callback port of
  // its own (tests run in parallel).
  std::unique_ptr<BackgroundProcess> StartAgent() {
    if (callback_port_ == 0) {
      callback_port_ = UnusedPort();
      std::filesystem::create_directories(env_.Path("config/llorch"));
      std::ofstream(env_.Path("config/llorch/pool.toml"))
          << "[workers]\ncallback_port = " << callback_port_ << "\n";
    }
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = env_.Path("work");
    auto agent = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{InstalledBinary("pool-agent")}, options, agent_log());
    EXPECT_TRUE(WaitFor([&] { return UnixSocketAccepts(socket()); })) << ReadFileBytes(agent_log());
    return agent;
  }
  // The recorded workers as `worker list --all -o json` shows them.
  nlohmann::json ListedWorkers() {
    CommandResult json = env_.Run({"worker", "list", "--all", "-o", "json"});
    EXPECT_EQ(json.exit_code, 0) << json.err;
    const nlohmann::json listed = nlohmann::json::parse(json.out, nullptr, false);
    return listed.is_object() && listed.contains("workers") ? listed["workers"]
                                                            : nlohmann::json::array();
  }
  // A `sleep` running, and worker-cpu-0's state file naming its pid as if reused: same pid and
  // executable, another start time. Null when the sleep could not be identified.
  std::unique_ptr<BackgroundProcess> StartSleepWithStaleRecord() {
    CommandOptions options;
    options.env = env_.env();
    auto sleeper = std::make_unique<BackgroundProcess>(std::vector<std::string>{"sleep", "1000"},
                                                       options, env_.Path("sleep.log"));
    ProcessIdentity identity;
    if (!WaitFor([&] {
          absl::StatusOr<ProcessIdentity> now = ReadProcessIdentity(sleeper->pid());
          if (!now.ok() || now->executable.find("sleep") == std::string::npos) return false;
          identity = *now;
          return true;
        })) {
      return nullptr;
    }
    std::filesystem::create_directories(state_dir() + "/workers");
    std::ofstream(state_dir() + "/workers/worker-cpu-0.json")
        << nlohmann::json{{"id", "worker-cpu-0"},
                          {"backend", "cpu"},
                          {"model_id", "tinyllama"},
                          {"port", UnusedPort()},
                          {"pid", sleeper->pid()},
                          {"start_time", identity.start_time + 1},
                          {"executable", identity.executable},
                          {"created_at_ms", 1},
                          {"ready_at_ms", 2}};
    return sleeper;
  }
  void PlaceTinyllama() {
    PlaceModel(env_.models_dir(), "tinyllama", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
  }

  E2eEnvironment env_;
  int callback_port_ = 0;
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
  const int64_t pid = nlohmann::json::parse(json.out)["workers"][0]["pid"].get<int64_t>();
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

TEST_F(WorkerE2eTest, RestartOnFailureNeedsTheAgentAndTheCliAloneSaysSo) {
  PlaceTinyllama();
  CommandResult spawn = env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--restart",
                                  "on-failure", "--port", std::to_string(UnusedPort())});
  EXPECT_EQ(spawn.exit_code, 1);
  EXPECT_THAT(spawn.err, HasSubstr("error: --restart on-failure needs a supervisor that outlives "
                                   "this command"));
  EXPECT_THAT(spawn.err, HasSubstr("hint: start pool-agent"));
  EXPECT_THAT(env_.Run({"worker", "list", "--all"}).out, HasSubstr("No workers."));
  CommandResult bad = env_.Run({"worker", "spawn", "cpu", "--restart", "always"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("always"));
}

TEST_F(WorkerE2eTest, ModelsDeleteRefusesAModelAWorkerServesUntilTheWorkerIsGone) {
  PlaceTinyllama();
  ASSERT_EQ(env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port",
                      std::to_string(UnusedPort())})
                .exit_code,
            0);
  const int64_t pid = ListedWorkers()[0]["pid"].get<int64_t>();
  CommandResult refused = env_.Run({"models", "delete", "tinyllama", "--force"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr(absl::StrCat(
                               "error: model tinyllama is in use by worker worker-cpu-0 (pid ", pid,
                               "); nothing was deleted")));
  EXPECT_THAT(refused.err,
              HasSubstr("hint: stop it first: `llorch-pool worker stop worker-cpu-0`"));
  EXPECT_TRUE(std::filesystem::exists(env_.models_dir() + "/tinyllama"));

  ASSERT_EQ(kill(-static_cast<pid_t>(pid), SIGINT), 0);
  for (int i = 0; i < 500 && kill(static_cast<pid_t>(pid), 0) == 0; ++i) usleep(10000);
  CommandResult deleted = env_.Run({"models", "delete", "tinyllama", "--force"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
}

TEST_F(WorkerE2eTest, ANewAgentReadoptsTheWorkersOfAKilledOneAndRecordsTheirExit) {
  PlaceTinyllama();
  auto agent = StartAgent();
  ASSERT_EQ(env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port",
                      std::to_string(UnusedPort())})
                .exit_code,
            0);
  const int64_t pid = ListedWorkers()[0]["pid"].get<int64_t>();
  ASSERT_EQ(agent->Stop(SIGKILL), 128 + SIGKILL);

  // The worker outlived its agent; the next agent finds it, the same process, still ready.
  agent = StartAgent();
  nlohmann::json workers = ListedWorkers();
  ASSERT_EQ(workers.size(), 1u) << workers.dump();
  EXPECT_EQ(workers[0]["state"], "WORKER_STATE_READY");
  EXPECT_EQ(workers[0]["pid"], pid);

  // When it then dies, the new agent sees it at once and records it; not being its parent, it
  // cannot know the exit code.
  ASSERT_EQ(kill(-static_cast<pid_t>(pid), SIGKILL), 0);
  ASSERT_TRUE(WaitFor([&] {
    workers = ListedWorkers();
    return workers.size() == 1 && workers[0]["state"] == "WORKER_STATE_FAILED";
  })) << workers.dump();
  EXPECT_THAT(workers[0]["state_reason"].get<std::string>(), HasSubstr("exit status unknown"));
  EXPECT_EQ(workers[0]["exit_code"], -1);
}

TEST_F(WorkerE2eTest, AStaleRecordNamingAnotherLiveProcessIsLostAndThatProcessUntouched) {
  std::unique_ptr<BackgroundProcess> sleeper = StartSleepWithStaleRecord();
  ASSERT_TRUE(sleeper);
  auto agent = StartAgent();
  const nlohmann::json workers = ListedWorkers();
  ASSERT_EQ(workers.size(), 1u) << workers.dump();
  EXPECT_EQ(workers[0]["state"], "WORKER_STATE_LOST");
  EXPECT_THAT(workers[0]["state_reason"].get<std::string>(),
              HasSubstr(absl::StrCat("pid ", sleeper->pid(), " now names another process")));
  // Recorded so, not just judged at each list.
  EXPECT_THAT(ReadFileBytes(state_dir() + "/workers/worker-cpu-0.json"),
              HasSubstr("\"lost\": true"));
  EXPECT_EQ(agent->Stop(SIGTERM), 0);
  EXPECT_FALSE(sleeper->Exited());
  EXPECT_EQ(sleeper->Stop(SIGKILL), 128 + SIGKILL);
}

TEST_F(WorkerE2eTest, StopInALaterRunStopsTheWorkerAnEarlierRunSpawned) {
  PlaceTinyllama();
  ASSERT_EQ(env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--port",
                      std::to_string(UnusedPort())})
                .exit_code,
            0);
  const int64_t pid = ListedWorkers()[0]["pid"].get<int64_t>();
  CommandResult stop = env_.Run({"worker", "stop", "worker-cpu-0"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  // Not this run's child: its exit code cannot be known, and the line says so.
  EXPECT_THAT(stop.out, MatchesRegex(absl::StrCat(
                            "stopped worker-cpu-0 \\(pid ", pid,
                            "\\): exited on SIGINT after [0-9.]+m?s \\(exit code unknown: it is "
                            "not the child of the agent that stopped it\\)\n")));
  EXPECT_THAT(ReadFileBytes(state_dir() + "/logs/worker-cpu-0.log"),
              HasSubstr("SIGINT: shutting down"));
  EXPECT_THAT(env_.Run({"worker", "list"}).out, HasSubstr("No workers."));
  const nlohmann::json workers = ListedWorkers();
  ASSERT_EQ(workers.size(), 1u);
  EXPECT_EQ(workers[0]["state"], "WORKER_STATE_EXITED");
  EXPECT_EQ(workers[0]["exit_code"], -1);
  EXPECT_THAT(env_.Run({"worker", "list", "--all"}).out, MatchesRegex("(.|\n)*exited\n(.|\n)*"));
  // Again: it had exited, which is no failure.
  CommandResult again = env_.Run({"worker", "stop", "worker-cpu-0"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("had already exited"));
  // An id nobody recorded.
  CommandResult unknown = env_.Run({"worker", "stop", "worker-cpu-7"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("error: no worker worker-cpu-7 is recorded"));
}

TEST_F(WorkerE2eTest, StopAllWithJsonOutputStopsEveryWorker) {
  PlaceTinyllama();
  for (const char* id : {"a", "b"}) {
    ASSERT_EQ(env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--id", id, "--port",
                        std::to_string(UnusedPort())})
                  .exit_code,
              0);
  }
  CommandResult stop = env_.Run({"worker", "stop", "--all", "-o", "json"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  // One document: the operation's final result.
  const nlohmann::json result = nlohmann::json::parse(stop.out);
  const nlohmann::json targets = result["targets"];
  ASSERT_EQ(targets.size(), 2u) << stop.out;
  EXPECT_EQ(targets[0]["id"], "a");
  EXPECT_EQ(targets[1]["id"], "b");
  EXPECT_EQ(targets[0]["ending"], "ENDING_EXITED_ON_STOP_SIGNAL");
  EXPECT_EQ(result["all_stopped"], true);
  EXPECT_THAT(env_.Run({"worker", "list"}).out, HasSubstr("No workers."));
  CommandResult usage = env_.Run({"worker", "stop"});
  EXPECT_EQ(usage.exit_code, 2);
}

TEST_F(WorkerE2eTest, StopNeverSignalsAProcessThatOnlyHasTheRecordedPid) {
  std::unique_ptr<BackgroundProcess> sleeper = StartSleepWithStaleRecord();
  ASSERT_TRUE(sleeper);
  CommandResult stop = env_.Run({"worker", "stop", "worker-cpu-0", "--timeout", "1"});
  EXPECT_EQ(stop.exit_code, 1);
  EXPECT_THAT(stop.out,
              HasSubstr(absl::StrCat("not stopped worker-cpu-0 (pid ", sleeper->pid(), "): pid ",
                                     sleeper->pid(), " now names another process")));
  EXPECT_FALSE(sleeper->Exited());
  EXPECT_EQ(ListedWorkers()[0]["state"], "WORKER_STATE_LOST");
  EXPECT_EQ(sleeper->Stop(SIGKILL), 128 + SIGKILL);
}

TEST_F(WorkerE2eTest, AWorkerNobodyManagesIsListedAndStoppedByPidAndOtherPidsAreRefused) {
  CommandOptions options;
  options.env = env_.env();
  (*options.env)["FAKE_WORKER_NO_CALLBACK"] = "1";
  const int port = UnusedPort();
  BackgroundProcess by_hand({env_.Path("bin") + "/llorch-cuda-candled", "--worker-id", "left-over",
                             "--model", "/m/tiny.gguf", "--port", std::to_string(port),
                             "--callback-url", "http://127.0.0.1:1/", "--cuda-device", "0"},
                            options, env_.Path("by-hand.log"));
  CommandResult list;
  ASSERT_TRUE(WaitFor([&] {
    list = env_.Run({"worker", "list"});
    return list.out.find("unmanaged") != std::string::npos;
  })) << list.out;
  EXPECT_THAT(list.out,
              MatchesRegex(absl::StrCat("(.|\n)*left-over +cuda +/m/tiny.gguf +0 +", port, " +",
                                        by_hand.pid(), " +[0-9]+s +unmanaged\n(.|\n)*")));

  ASSERT_TRUE(WaitFor([&] {
    return ReadFileBytes(env_.Path("by-hand.log")).find("loading model") != std::string::npos;
  }));
  BackgroundProcess sleeper({"sleep", "1000"}, options, env_.Path("sleep.log"));
  CommandResult refused = env_.Run({"worker", "stop", "--pid", std::to_string(sleeper.pid())});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.out, HasSubstr(absl::StrCat("not stopped pid ", sleeper.pid(), ": pid ",
                                                  sleeper.pid(), " runs ")));
  EXPECT_THAT(refused.out, HasSubstr("not a worker program; nothing was signalled"));
  EXPECT_FALSE(sleeper.Exited());

  CommandResult stop = env_.Run({"worker", "stop", "--pid", std::to_string(by_hand.pid())});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_THAT(stop.out, HasSubstr(absl::StrCat("stopped left-over (pid ", by_hand.pid(),
                                               "): exited on SIGINT after ")));
  EXPECT_THAT(stop.out, HasSubstr("so it was stopped alone, not its group"));
  // A CUDA worker: the stand-in nvidia-smi lists nothing of it.
  EXPECT_THAT(stop.out, HasSubstr("GPU memory released"));
  EXPECT_EQ(by_hand.Wait(), 0);
  EXPECT_THAT(env_.Run({"worker", "list"}).out, HasSubstr("No workers."));
  EXPECT_EQ(sleeper.Stop(SIGKILL), 128 + SIGKILL);
}

}  // namespace
}  // namespace llorch::testing
