// Stopping a worker's process group on real processes: a graceful stop on SIGINT, SIGKILL after
// the grace period, a forked child in the group that ignores SIGINT, and the PID-reuse guard: a
// record naming an unrelated live process never gets it (or its group) signalled.
#include "agent/workers/process_stop.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/workers/proc_fs.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "tests/support/run_command.h"
#include "tests/support/session_child.h"

namespace llorch {
namespace {

using ::llorch::testing::SessionChild;
using ::llorch::testing::SignalChildPath;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// The pids of a "ready <pid> [<child pid>]" line.
std::vector<pid_t> ReadyPids(const std::string& line) {
  std::vector<pid_t> pids;
  for (absl::string_view word : absl::StrSplit(line, ' ')) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(word, &pid)) pids.push_back(pid);
  }
  return pids;
}

// True while `pid` is a live process (a zombie is not).
bool Alive(pid_t pid) {
  absl::StatusOr<ProcStat> stat = ReadProcStat(pid);
  return stat.ok() && stat->state != 'Z';
}

ProcessIdentity Identity(pid_t pid) {
  absl::StatusOr<ProcessIdentity> identity = ReadProcessIdentity(pid);
  EXPECT_TRUE(identity.ok()) << identity.status();
  return identity.value_or(ProcessIdentity{});
}

StopOptions Options(absl::Duration grace) {
  StopOptions options;
  options.grace = grace;
  options.reap = true;
  return options;
}

TEST(ProcessStopTest, AWorkerThatHonoursSigintExitsOnIt) {
  SessionChild worker({SignalChildPath()});
  ASSERT_THAT(worker.ReadLine(), StartsWith("ready"));
  absl::StatusOr<StopOutcome> outcome =
      StopProcessGroup(Identity(worker.pid()), worker.pid(), Options(absl::Seconds(30)));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->ending, StopOutcome::Ending::kExitedOnStopSignal);
  EXPECT_EQ(outcome->exit_code, 0);
  EXPECT_THAT(outcome->members, ElementsAre(worker.pid()));
  EXPECT_THAT(outcome->remaining, IsEmpty());
  EXPECT_THAT(outcome->Describe(), StartsWith("exited on SIGINT after "));
  EXPECT_THAT(outcome->Describe(), HasSubstr("(exit code 0)"));
  EXPECT_THAT(ListGroupMembers(worker.pid()), IsEmpty());
}

TEST(ProcessStopTest, AWorkerIgnoringSigintIsKilledAfterTheGracePeriod) {
  SessionChild worker({SignalChildPath(), "--ignore-sigint"});
  ASSERT_THAT(worker.ReadLine(), StartsWith("ready"));
  absl::StatusOr<StopOutcome> outcome =
      StopProcessGroup(Identity(worker.pid()), worker.pid(), Options(absl::Milliseconds(300)));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->ending, StopOutcome::Ending::kKilled);
  EXPECT_EQ(outcome->exit_code, 128 + SIGKILL);
  EXPECT_THAT(outcome->remaining, IsEmpty());
  EXPECT_EQ(outcome->Describe(),
            "did not exit within 300ms of SIGINT; killed with SIGKILL (exit code 137)");
  EXPECT_THAT(ListGroupMembers(worker.pid()), IsEmpty());
}

TEST(ProcessStopTest, AForkedChildInTheGroupIgnoringSigintIsGoneToo) {
  SessionChild worker({SignalChildPath(), "--fork-child"});
  std::vector<pid_t> pids = ReadyPids(worker.ReadLine());
  ASSERT_EQ(pids.size(), 2u);
  const pid_t child = pids[1];
  ASSERT_TRUE(Alive(child));
  absl::StatusOr<StopOutcome> outcome =
      StopProcessGroup(Identity(worker.pid()), worker.pid(), Options(absl::Milliseconds(300)));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->ending, StopOutcome::Ending::kExitedOnStopSignal);
  EXPECT_THAT(outcome->members, UnorderedElementsAre(worker.pid(), child));
  EXPECT_THAT(outcome->killed_others, ElementsAre(child));
  EXPECT_THAT(outcome->remaining, IsEmpty());
  EXPECT_THAT(outcome->Describe(),
              HasSubstr("pid " + std::to_string(child) +
                        " of its process group outlived SIGINT and were killed with SIGKILL"));
  EXPECT_FALSE(Alive(child));
  EXPECT_THAT(ListGroupMembers(worker.pid()), IsEmpty());
}

TEST(ProcessStopTest, StopProcessStopsOneMemberAndLeavesTheRestOfItsGroupAlone) {
  SessionChild leader({SignalChildPath(), "--fork-child"});
  std::vector<pid_t> pids = ReadyPids(leader.ReadLine());
  ASSERT_EQ(pids.size(), 2u);
  const pid_t child = pids[1];  // ignores SIGINT
  absl::StatusOr<StopOutcome> outcome =
      StopProcess(Identity(child), Options(absl::Milliseconds(200)));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->ending, StopOutcome::Ending::kKilled);
  EXPECT_THAT(outcome->members, ElementsAre(child));
  EXPECT_THAT(outcome->killed_others, IsEmpty());
  EXPECT_THAT(outcome->remaining, IsEmpty());
  EXPECT_FALSE(Alive(child));
  EXPECT_TRUE(Alive(leader.pid()));  // its group was not signalled
}

TEST(ProcessStopTest, StopProcessRefusesAReusedPid) {
  SessionChild unrelated({SignalChildPath(), "--report-signals"});
  ASSERT_THAT(unrelated.ReadLine(), StartsWith("ready"));
  ProcessIdentity recorded = Identity(unrelated.pid());
  recorded.start_time -= 1;
  absl::StatusOr<StopOutcome> outcome = StopProcess(recorded, Options(absl::Milliseconds(100)));
  EXPECT_EQ(GetReason(outcome.status()), reasons::kProcessReplaced);
  EXPECT_TRUE(Alive(unrelated.pid()));
}

// A record naming a live process that is not the one recorded: the stop is refused and the
// process gets no signal at all, which it would report before the SIGTERM the test sends last.
void ExpectRefusedAndNotSignalled(SessionChild& unrelated, const ProcessIdentity& recorded) {
  absl::StatusOr<StopOutcome> outcome =
      StopProcessGroup(recorded, unrelated.pid(), Options(absl::Milliseconds(100)));
  EXPECT_EQ(outcome.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetReason(outcome.status()), reasons::kProcessReplaced);
  EXPECT_THAT(outcome.status().message(), HasSubstr("nothing was signalled"));
  ASSERT_TRUE(Alive(unrelated.pid()));
  kill(unrelated.pid(), SIGTERM);
  EXPECT_EQ(unrelated.ReadLine(), "signal 15");
  EXPECT_EQ(unrelated.Wait(), 0);
}

TEST(ProcessStopTest, AReusedPidWithAnotherStartTimeIsNeverSignalled) {
  SessionChild unrelated({SignalChildPath(), "--report-signals"});
  ASSERT_THAT(unrelated.ReadLine(), StartsWith("ready"));
  ProcessIdentity recorded = Identity(unrelated.pid());
  recorded.start_time -= 1;  // the worker that had this pid before started earlier
  ExpectRefusedAndNotSignalled(unrelated, recorded);
}

TEST(ProcessStopTest, AStaleRecordOfAnExitedWorkerNeverSignalsTheProcessNowAtItsPid) {
  // A real worker's record, kept after it exited.
  testing::TempDir dir;
  const std::string binary = dir.path() + "/llorch-test-candled";
  std::filesystem::copy_file(SignalChildPath(), binary);
  std::filesystem::permissions(binary, std::filesystem::perms::owner_all);
  ProcessIdentity recorded;
  {
    SessionChild worker({binary, "--worker-id", "worker-cpu-0"});
    ASSERT_THAT(worker.ReadLine(), StartsWith("ready"));
    recorded = Identity(worker.pid());
  }
  // Its pid now names an unrelated process.
  SessionChild unrelated({SignalChildPath(), "--report-signals"});
  ASSERT_THAT(unrelated.ReadLine(), StartsWith("ready"));
  recorded.pid = unrelated.pid();
  ExpectRefusedAndNotSignalled(unrelated, recorded);
}

TEST(ProcessStopTest, AWorkerThatHadExitedIsReportedWithoutSignals) {
  SessionChild worker({SignalChildPath()});
  ASSERT_THAT(worker.ReadLine(), StartsWith("ready"));
  const ProcessIdentity recorded = Identity(worker.pid());
  kill(worker.pid(), SIGKILL);
  ASSERT_TRUE(::llorch::testing::WaitFor([&] { return !Alive(worker.pid()); }));
  absl::StatusOr<StopOutcome> outcome =
      StopProcessGroup(recorded, worker.pid(), Options(absl::Seconds(30)));
  ASSERT_TRUE(outcome.ok()) << outcome.status();
  EXPECT_EQ(outcome->ending, StopOutcome::Ending::kAlreadyExited);
  EXPECT_EQ(outcome->exit_code, 128 + SIGKILL);
  EXPECT_EQ(outcome->Describe(), "had already exited (exit code 137)");
}

}  // namespace
}  // namespace llorch
