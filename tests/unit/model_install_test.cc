// The pieces the hf backend and the converter share: forwarding a child's output (redraws
// throttled on a fake clock), byte progress with an estimated total, and the GGUF check.
#include "agent/models/store/model_install.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/gguf_writer.h"
#include "tests/support/operation_events.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

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

TEST(CheckGgufTest, AcceptsAGgufFileAndNamesTheFaultOfAnythingElse) {
  testing::TempDir dir;
  const std::string good = dir.path() + "/good.gguf";
  testing::GgufBuilder gguf(3);
  gguf.AddString("general.architecture", "gpt2").AddTensor("t", {4});
  testing::WriteFileBytes(good, gguf.BuildWithData());
  const DirFd opened = DirFd::OpenRoot(dir.path(), false).value();
  EXPECT_TRUE(CheckGguf(opened, "good.gguf", "converter x").ok());

  const std::string bad = dir.path() + "/bad.gguf";
  testing::WriteFileBytes(bad, "GGML and then nothing useful");
  absl::Status status = CheckGguf(opened, "bad.gguf", "converter x");
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              HasSubstr("converter x produced a file that is not a valid GGUF model: " + bad +
                        ": not a GGUF file"));
}

}  // namespace
}  // namespace llorch
