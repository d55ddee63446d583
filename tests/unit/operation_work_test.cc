// What an operation's work reports and runs with (agent/ops/): byte progress with an estimated
// total; a child's output forwarded into the log (redraws throttled on a fake clock); and a child
// program run as a step: cancellation stops its whole process group, grandchildren included,
// and a failure quotes its last stderr lines.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <string>
#include <vector>

#include "agent/ops/byte_progress.h"
#include "agent/ops/child_output_log.h"
#include "agent/ops/child_process_step.h"
#include "common/status.h"
#include "tests/support/operation_events.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(ChildOutputLogTest, ForwardsLinesByStreamAndAtMostOneRedrawASecond) {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  Operation op("op-1", "model.convert", "gpt2", [&] { return now; });
  ChildOutputLog log(op, [&] { return now; });
  using Stream = OutputLine::Stream;
  log(OutputLine{Stream::kStderr, "INFO:hf-to-gguf:Loading model", false});
  log(OutputLine{Stream::kStderr, "Writing:  10%", true});
  log(OutputLine{Stream::kStderr, "Writing:  20%", true});  // within the second: dropped
  now += absl::Milliseconds(999);
  log(OutputLine{Stream::kStderr, "Writing:  30%", true});  // still within it
  now += absl::Milliseconds(1);
  log(OutputLine{Stream::kStderr, "Writing:  40%", true});
  log(OutputLine{Stream::kStdout, "done", false});
  EXPECT_THAT(testing::LogTexts(op, v1::LogLine::STREAM_STDERR),
              ElementsAre("INFO:hf-to-gguf:Loading model", "Writing:  10%", "Writing:  40%"));
  EXPECT_THAT(testing::LogTexts(op, v1::LogLine::STREAM_STDOUT), ElementsAre("done"));
}

TEST(ByteProgressTest, ReportsAgainstTheEstimateUntilItIsPassed) {
  absl::Time now = absl::FromUnixSeconds(1700000000);
  Operation op("op-1", "model.download", "tiny", [&] { return now; });
  ByteProgress progress(op, "download", 1000, "tiny.gguf");
  progress.Report(0);
  progress.Report(1000);
  now += Operation::kProgressInterval;  // past the operation's throttle
  progress.Report(1500);                // the catalog's size was an underestimate
  std::vector<v1::Progress> reports = testing::ProgressOf(op, "download");
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_EQ(reports[0].total(), 1000u);
  EXPECT_EQ(reports[0].current_item(), "tiny.gguf");
  EXPECT_EQ(reports[0].unit(), v1::PROGRESS_UNIT_BYTES);
  EXPECT_EQ(reports[1].done(), 1000u);
  EXPECT_EQ(reports[2].done(), 1500u);
  EXPECT_EQ(reports[2].total(), 0u);  // unknown rather than over 100 %
  EXPECT_FALSE(reports[2].has_eta());
}

TEST(ByteProgressTest, TellsWorkThatReportsToStopOnceTheOperationIsCancelled) {
  Operation op("op-1", "model.verify", "tiny");
  ByteProgress progress(op, "hash", 100, "tiny.gguf");
  EXPECT_TRUE(progress.ReportAndContinue(10));
  op.RequestCancel();
  EXPECT_FALSE(progress.ReportAndContinue(20));
}

// Gone, or a zombie nobody reaped yet (its parent, the child, is gone): it runs no more.
bool ProcessIsGone(pid_t pid) {
  const std::string stat = testing::ReadFileBytes("/proc/" + std::to_string(pid) + "/stat");
  const size_t state = stat.rfind(')');
  return stat.empty() || (state != std::string::npos && stat.substr(state + 2, 1) == "Z");
}

class ChildProcessStepTest : public ::testing::Test {
 protected:
  ChildProcessStepTest() {
    options_.poll_interval = absl::Milliseconds(5);
    options_.kill_grace = absl::Milliseconds(200);
    step_.name = "tool x";
    step_.work = "work of x";
  }

  testing::TempDir temp_;
  ChildProcessOptions options_;
  ChildProcessStep step_;
  Operation op_{"op-1", "model.convert", "x"};
};

// A tool's own child that ignores SIGTERM still goes when the operation is cancelled: the whole
// process group is stopped, not just the process the agent started.
TEST_F(ChildProcessStepTest, CancellingTheOperationStopsTheChildsWholeProcessGroup) {
  const std::string pid_file = temp_.path() + "/grandchild.pid";
  step_.argv = {
      "/bin/sh", "-c",
      "sh -c 'trap \"\" TERM; echo $$ > \"$0.tmp\"; mv \"$0.tmp\" \"$0\"; exec sleep 600' "
      "\"$0\" & wait",
      pid_file};
  step_.on_tick = [&] {
    if (fs::exists(pid_file)) op_.RequestCancel();
  };
  absl::Status status = RunChildProcessStep(step_, options_, op_);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(status.message(), "work of x cancelled");
  const pid_t grandchild = std::stoi(testing::ReadFileBytes(pid_file));
  EXPECT_TRUE(testing::WaitFor([&] { return ProcessIsGone(grandchild); }));
  if (!ProcessIsGone(grandchild)) kill(grandchild, SIGKILL);
}

TEST_F(ChildProcessStepTest, AFailingChildsLastLinesAreInTheErrorAndAllOfThemInTheLog) {
  step_.argv = {"/bin/sh", "-c",
                "echo one >&2; echo two >&2; echo >&2; echo three >&2; echo four >&2; exit 3"};
  absl::Status status = RunChildProcessStep(step_, options_, op_);
  EXPECT_EQ(status.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(status.message(), "tool x failed (exit 3): two / three / four");
  EXPECT_THAT(GetHint(status).value_or(""), HasSubstr("`llorch-pool ops watch op-1`"));
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_STDERR),
              ElementsAre("one", "two", "", "three", "four"));
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_AGENT),
              ElementsAre(HasSubstr("/bin/sh -c echo one")));
}

TEST_F(ChildProcessStepTest, AToolsOwnReadingOfItsOutputMakesTheError) {
  step_.argv = {"/bin/sh", "-c", "echo 'Error: repository not found' >&2; echo done >&2; exit 1"};
  step_.error_line = [](const std::vector<std::string>& tail) { return tail.front(); };
  step_.explain_failure = [](const SubprocessResult& result, absl::Status failure) {
    return absl::NotFoundError(absl::StrCat(failure.message(), " [", result.exit_code, "]"));
  };
  absl::Status status = RunChildProcessStep(step_, options_, op_);
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(status.message(), "tool x failed (exit 1): Error: repository not found [1]");
}

TEST_F(ChildProcessStepTest, RunsInTheWorkingDirectoryWithTheEnvironmentAndSucceeds) {
  options_.env["STEP_TEST"] = "set";
  step_.argv = {"/bin/sh", "-c", "test \"$STEP_TEST\" = set && test \"$(pwd)\" = \"$0\"",
                temp_.path()};
  step_.working_dir = temp_.path();
  EXPECT_TRUE(RunChildProcessStep(step_, options_, op_).ok());
}

TEST(FindProgramTest, SaysWhereItLookedForAProgramThatIsNotThere) {
  ChildProcessOptions options;
  options.env["PATH"] = "/nonexistent-a";
  EXPECT_EQ(FindProgram("sh", "x.command", options).status().message(),
            "`sh` was not found in PATH (/nonexistent-a)");
  EXPECT_EQ(FindProgram("/nonexistent-b/sh", "x.command", options).status().message(),
            "/nonexistent-b/sh (x.command) is not an executable file");
  options.env["PATH"] = "/bin:/usr/bin";
  EXPECT_TRUE(FindProgram("sh", "x.command", options).ok());
}

}  // namespace
}  // namespace llorch
