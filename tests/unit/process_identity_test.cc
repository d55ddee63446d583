// The identity of a process (pid, start time, executable) read from /proc, and the check that a
// recorded identity still names the live process, on real processes: a reused pid (another
// start time or executable) is refused, a binary deleted under a running process is not.
#include "agent/workers/process_identity.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "agent/workers/proc_fs.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "tests/support/run_command.h"
#include "tests/support/session_child.h"

namespace llorch {
namespace {

using ::llorch::testing::SessionChild;
using ::llorch::testing::SignalChildPath;
using ::testing::HasSubstr;

// A /proc/PID/stat line whose command name has spaces and parentheses, with start time 98765.
constexpr char kStatLine[] =
    "4242 (evil) S 1 2 (x) R) S 1 4200 4200 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 98765 "
    "1000000 100 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 17 3 0 0 0 0 0\n";

TEST(ProcStatTest, CountsFieldsFromTheLastParenthesisOfTheCommandName) {
  absl::StatusOr<ProcStat> stat = ParseProcStat(kStatLine);
  ASSERT_TRUE(stat.ok()) << stat.status();
  EXPECT_EQ(stat->pid, 4242);
  EXPECT_EQ(stat->state, 'S');
  EXPECT_EQ(stat->ppid, 1);
  EXPECT_EQ(stat->pgrp, 4200);
  EXPECT_EQ(stat->start_time, 98765u);
}

TEST(ProcStatTest, RefusesTextThatIsNotAStatLine) {
  EXPECT_FALSE(ParseProcStat("").ok());
  EXPECT_FALSE(ParseProcStat("4242 (cut short) S 1 2").ok());
  EXPECT_FALSE(ParseProcStat("4242 no parentheses S 1 4200 4200").ok());
}

TEST(ProcessIdentityTest, NamesTheRunningProgramAndStaysTheSame) {
  SessionChild child({SignalChildPath()});
  ASSERT_THAT(child.ReadLine(), HasSubstr("ready"));
  absl::StatusOr<ProcessIdentity> identity = ReadProcessIdentity(child.pid());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->pid, child.pid());
  EXPECT_EQ(identity->executable, std::filesystem::canonical(SignalChildPath()).string());
  EXPECT_GT(identity->start_time, 0u);
  absl::StatusOr<Pidfd> pidfd = OpenIdentified(*identity);
  ASSERT_TRUE(pidfd.ok()) << pidfd.status();
  EXPECT_FALSE(pidfd->Exited());
}

TEST(ProcessIdentityTest, AnotherStartTimeIsAnotherProcess) {
  SessionChild child({SignalChildPath()});
  ASSERT_THAT(child.ReadLine(), HasSubstr("ready"));
  absl::StatusOr<ProcessIdentity> recorded = ReadProcessIdentity(child.pid());
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  recorded->start_time -= 1;  // what a worker that had this pid before would have recorded
  absl::StatusOr<Pidfd> pidfd = OpenIdentified(*recorded);
  EXPECT_EQ(pidfd.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetReason(pidfd.status()), reasons::kProcessReplaced);
  EXPECT_THAT(pidfd.status().message(), HasSubstr("nothing was signalled"));
}

TEST(ProcessIdentityTest, AnotherExecutableIsAnotherProcess) {
  SessionChild child({SignalChildPath()});
  ASSERT_THAT(child.ReadLine(), HasSubstr("ready"));
  absl::StatusOr<ProcessIdentity> recorded = ReadProcessIdentity(child.pid());
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  recorded->executable = "/usr/local/bin/llorch-cuda-candled";
  EXPECT_EQ(GetReason(OpenIdentified(*recorded).status()), reasons::kProcessReplaced);
}

TEST(ProcessIdentityTest, ABinaryReplacedUnderARunningProcessDoesNotChangeIt) {
  testing::TempDir dir;
  const std::string copy = dir.path() + "/llorch-test-candled";
  std::filesystem::copy_file(SignalChildPath(), copy);
  std::filesystem::permissions(copy, std::filesystem::perms::owner_all);
  SessionChild child({copy});
  ASSERT_THAT(child.ReadLine(), HasSubstr("ready"));
  absl::StatusOr<ProcessIdentity> recorded = ReadProcessIdentity(child.pid());
  ASSERT_TRUE(recorded.ok()) << recorded.status();
  std::filesystem::remove(copy);  // an upgrade removes or replaces the file

  absl::StatusOr<ProcExecutable> executable = ReadProcExecutable(child.pid());
  ASSERT_TRUE(executable.ok()) << executable.status();
  EXPECT_TRUE(executable->deleted);
  EXPECT_EQ(executable->path, recorded->executable);
  EXPECT_TRUE(OpenIdentified(*recorded).ok());
}

TEST(ProcessIdentityTest, AnExitedProcessIsNotFound) {
  absl::StatusOr<ProcessIdentity> recorded;
  {
    SessionChild child({SignalChildPath()});
    ASSERT_THAT(child.ReadLine(), HasSubstr("ready"));
    recorded = ReadProcessIdentity(child.pid());
    ASSERT_TRUE(recorded.ok()) << recorded.status();
  }
  EXPECT_EQ(OpenIdentified(*recorded).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(ReadProcessIdentity(recorded->pid).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace llorch
