// `llorch-pool worker logs` as a user runs it: the installed CLI (standalone, no agent running),
// workers started by earlier `worker spawn` runs (the fake llorch-candled, which logs numbered
// lines and "got SIGUSR1 <n>" on SIGUSR1 when asked to), the logs on disk under the state dir.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_workers.h"

namespace llorch::testing {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

class WorkerLogsE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string bin = env_.Path("bin");
    WriteWorkerBinDir(bin, FAKE_WORKER, {0});
    env_.env()["PATH"] = bin + ":" + env_.env()["PATH"];
    PlaceModel(env_.models_dir(), "tinyllama", "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
  }
  void TearDown() override { KillRecordedWorkers(state_dir()); }

  std::string state_dir() const { return env_.Path("state/llorch/pool"); }
  std::string log_path(const std::string& id) const { return state_dir() + "/logs/" + id + ".log"; }

  void WriteConfig(const std::string& toml) {
    WriteFileBytes(env_.Path("config/llorch/pool.toml"), toml);
  }

  // Spawns worker `id` and waits until it is ready; returns its pid.
  pid_t Spawn(const std::string& id) {
    CommandResult spawn = env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--id", id,
                                    "--port", std::to_string(UnusedPort()), "-o", "json"});
    EXPECT_EQ(spawn.exit_code, 0) << spawn.err;
    CommandResult list = env_.Run({"worker", "list", "-o", "json"});
    const nlohmann::json workers = nlohmann::json::parse(list.out)["workers"];
    for (const nlohmann::json& worker : workers) {
      if (worker["id"] == id) return worker["pid"].get<int>();
    }
    ADD_FAILURE() << "no worker " << id << " in " << list.out;
    return -1;
  }

  // `worker logs ARGS...` left running, its stdout and stderr going to `output_path()`.
  std::unique_ptr<BackgroundProcess> StartLogs(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {InstalledBinary("llorch-pool"), "worker", "logs"};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = env_.Path("work");
    return std::make_unique<BackgroundProcess>(argv, options, output_path());
  }
  std::string output_path() const { return env_.Path("logs-output.txt"); }
  bool OutputHas(const std::string& text) const {
    return absl::StrContains(ReadFileBytes(output_path()), text);
  }

  E2eEnvironment env_;
};

std::vector<std::string> Lines(const std::string& text) {
  return absl::StrSplit(text, '\n', absl::SkipEmpty());
}

TEST_F(WorkerLogsE2eTest, ShowsTheWholeLogOrItsLastLines) {
  env_.env()["FAKE_WORKER_LOG_LINES"] = "5";
  Spawn("w1");
  ASSERT_TRUE(WaitFor([&] {
    const std::string log = ReadFileBytes(log_path("w1"));
    return absl::StrContains(log, "line 5") && absl::StrContains(log, "ready callback accepted");
  }));
  const std::string on_disk = ReadFileBytes(log_path("w1"));

  CommandResult all = env_.Run({"worker", "logs", "w1"});
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(all.out, on_disk);  // the worker's JSON lines as it wrote them
  EXPECT_THAT(all.out, HasSubstr(R"("message":"model loaded")"));

  CommandResult tail = env_.Run({"worker", "logs", "w1", "--tail", "2"});
  ASSERT_EQ(tail.exit_code, 0) << tail.err;
  const std::vector<std::string> disk_lines = Lines(on_disk);
  EXPECT_THAT(Lines(tail.out), ElementsAre(disk_lines[disk_lines.size() - 2], disk_lines.back()));

  CommandResult json = env_.Run({"worker", "logs", "w1", "--tail", "1", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  ASSERT_EQ(Lines(json.out).size(), 1u);
  EXPECT_EQ(nlohmann::json::parse(json.out)["text"], disk_lines.back());
}

TEST_F(WorkerLogsE2eTest, FollowShowsNewLinesUntilTheWorkerExitsWithItsLastPartialLine) {
  env_.env()["FAKE_WORKER_PARTIAL_LAST"] = "1";
  const pid_t pid = Spawn("w1");
  ASSERT_GT(pid, 0);
  ASSERT_TRUE(WaitFor(
      [&] { return absl::StrContains(ReadFileBytes(log_path("w1")), "ready callback accepted"); }));
  std::unique_ptr<BackgroundProcess> follow = StartLogs({"w1", "-f", "--tail", "1"});
  ASSERT_TRUE(WaitFor([&] { return OutputHas("ready callback accepted"); }))
      << ReadFileBytes(output_path());
  ASSERT_EQ(kill(pid, SIGUSR1), 0);  // written after the command started
  ASSERT_TRUE(WaitFor([&] { return OutputHas("got SIGUSR1 1"); })) << ReadFileBytes(output_path());
  EXPECT_FALSE(follow->Exited());

  ASSERT_EQ(kill(-pid, SIGINT), 0);
  EXPECT_EQ(follow->Wait(), 0);
  const std::string output = ReadFileBytes(output_path());
  EXPECT_THAT(output, HasSubstr("SIGINT: shutting down"));
  EXPECT_THAT(output, HasSubstr(R"({"level":"info","message":"no newline after this"})"
                                "\n"));
  EXPECT_THAT(output, HasSubstr("worker w1 exited"));
  EXPECT_THAT(output, Not(HasSubstr("model loaded")));  // --tail 1 started after it

  // Its log stays readable after the exit.
  CommandResult after = env_.Run({"worker", "logs", "w1", "--tail", "1"});
  EXPECT_EQ(after.exit_code, 0) << after.err;
  EXPECT_EQ(after.out, R"({"level":"info","message":"no newline after this"})"
                       "\n");
}

TEST_F(WorkerLogsE2eTest, CtrlCEndsFollowingAndLeavesTheWorkerRunning) {
  const pid_t pid = Spawn("w1");
  std::unique_ptr<BackgroundProcess> follow = StartLogs({"w1", "--follow"});
  ASSERT_TRUE(WaitFor([&] { return OutputHas("ready callback accepted"); }));
  EXPECT_EQ(follow->Stop(SIGINT), 130);
  EXPECT_EQ(kill(pid, 0), 0);
  EXPECT_THAT(env_.Run({"worker", "list"}).out, HasSubstr("ready"));
}

TEST_F(WorkerLogsE2eTest, FollowContinuesAcrossRotationWithinTheSizeCap) {
  WriteConfig("[workers]\nlog_max_bytes = 4096\nlog_max_files = 1\n");
  constexpr int kLines = 5000;
  env_.env()["FAKE_WORKER_LOG_LINES"] = std::to_string(kLines);
  env_.env()["FAKE_WORKER_LOG_EVERY_MS"] = "1";
  env_.env()["FAKE_WORKER_LOG_ON_SIGUSR1"] = "1";
  const pid_t pid = Spawn("w1");
  ASSERT_GT(pid, 0);
  // This command's in-process agent rotates the log while it follows (no pool-agent runs): the
  // worker writes its lines once the follower is there, however long that took to start.
  std::unique_ptr<BackgroundProcess> follow = StartLogs({"w1", "-f"});
  ASSERT_TRUE(WaitFor([&] { return OutputHas("ready callback accepted"); }));
  ASSERT_EQ(kill(pid, SIGUSR1), 0);
  ASSERT_TRUE(WaitFor([&] { return OutputHas(absl::StrCat("line ", kLines, "\"")); }, 120))
      << ReadFileBytes(output_path()).substr(0, 2000);
  ASSERT_EQ(kill(-pid, SIGINT), 0);
  EXPECT_EQ(follow->Wait(), 0);

  std::vector<int> seen;
  uint64_t written = 0;
  for (const std::string& line : Lines(ReadFileBytes(output_path()))) {
    written += line.size() + 1;
    const size_t at = line.find("\"line ");
    int n = 0;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(absl::StripSuffix(line.substr(at + 6), "\"}"), &n)) {
      continue;
    }
    seen.push_back(n);
  }
  ASSERT_FALSE(seen.empty());
  for (size_t i = 1; i < seen.size(); ++i) {
    ASSERT_LT(seen[i - 1], seen[i]) << "out of order or twice at " << i;
  }
  EXPECT_EQ(seen.back(), kLines);
  // Only what the truncation window may drop: a line now and then, never a run of them.
  EXPECT_GE(seen.size(), static_cast<size_t>(kLines - 20));

  // The log and one rotated copy; together less than what the worker wrote.
  std::set<std::string> names;
  uint64_t on_disk = 0;
  for (const auto& entry : std::filesystem::directory_iterator(state_dir() + "/logs")) {
    names.insert(entry.path().filename().string());
    on_disk += entry.file_size();
  }
  EXPECT_EQ(names, (std::set<std::string>{"w1.log", "w1.log.1"}));
  EXPECT_LT(on_disk, written / 2);
}

TEST_F(WorkerLogsE2eTest, ARespawnKeepsThePreviousLogAsLog1) {
  env_.env()["FAKE_WORKER_CRASH"] = "7";
  CommandResult crashed = env_.Run({"worker", "spawn", "cpu", "--model", "tinyllama", "--id", "w1",
                                    "--port", std::to_string(UnusedPort())});
  ASSERT_EQ(crashed.exit_code, 1);
  env_.env().erase("FAKE_WORKER_CRASH");
  Spawn("w1");
  EXPECT_THAT(ReadFileBytes(log_path("w1") + ".1"), HasSubstr("fake worker crashing as asked"));
  CommandResult logs = env_.Run({"worker", "logs", "w1"});
  EXPECT_EQ(logs.exit_code, 0) << logs.err;
  EXPECT_THAT(logs.out, HasSubstr("model loaded"));
  EXPECT_THAT(logs.out, Not(HasSubstr("crashing")));
}

TEST_F(WorkerLogsE2eTest, AnUnknownOrMalformedIdIsRefused) {
  CommandResult unknown = env_.Run({"worker", "logs", "nope"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("error: no worker nope is recorded"));
  EXPECT_THAT(unknown.err, HasSubstr("hint: `llorch-pool worker list --all`"));
  CommandResult malformed = env_.Run({"worker", "logs", "../w1"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_THAT(malformed.err, HasSubstr("is not a worker id"));
  CommandResult too_many = env_.Run({"worker", "logs", "w1", "--tail", "1000001"});
  EXPECT_EQ(too_many.exit_code, 2);
  EXPECT_THAT(too_many.err, HasSubstr("tail_lines"));
}

TEST_F(WorkerLogsE2eTest, ASymlinkPlantedAsTheLogIsNeitherReadNorRotatedNorTruncated) {
  WriteConfig("[workers]\nlog_max_bytes = 1024\nlog_max_files = 1\n");
  Spawn("a-victim");
  const std::string outside = env_.Path("outside.txt");
  std::string secret;
  for (int i = 0; i < 100; ++i) secret += absl::StrCat("secret line ", i, "\n");
  WriteFileBytes(outside, secret);
  std::filesystem::remove(log_path("a-victim"));
  std::filesystem::create_symlink(outside, log_path("a-victim"));

  CommandResult read = env_.Run({"worker", "logs", "a-victim"});
  EXPECT_EQ(read.exit_code, 1);
  EXPECT_THAT(read.err, HasSubstr("symlink"));
  EXPECT_THAT(read.out + read.err, Not(HasSubstr("secret")));

  // A command that runs long enough for its agent to check the live workers' logs: once the
  // busy worker's log was rotated, the victim's (first by id) was looked at in the same round.
  env_.env()["FAKE_WORKER_LOG_LINES"] = "0";
  env_.env()["FAKE_WORKER_LOG_EVERY_MS"] = "1";
  Spawn("b-busy");
  std::unique_ptr<BackgroundProcess> follow = StartLogs({"b-busy", "-f"});
  ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(log_path("b-busy") + ".1"); }, 60));
  follow->Stop(SIGINT);
  EXPECT_EQ(ReadFileBytes(outside), secret);
  EXPECT_TRUE(std::filesystem::is_symlink(log_path("a-victim")));
  EXPECT_FALSE(std::filesystem::exists(log_path("a-victim") + ".1"));
}

}  // namespace
}  // namespace llorch::testing
