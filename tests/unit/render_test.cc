#include <gtest/gtest.h>

#include <functional>
#include <optional>
#include <sstream>
#include <utility>
#include <vector>

#include "client/render/errors.h"
#include "client/render/json.h"
#include "client/render/progress.h"
#include "client/render/style.h"
#include "client/render/table.h"
#include "client/render/visible.h"
#include "common/status.h"
#include "common/units.h"
#include "llorch/pool/v1/common.pb.h"
#include "llorch/pool/v1/model.pb.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {
namespace {

TEST(FormatBytesTest, UsesDecimalUnitsWithThreeDigits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1500), "1.50 kB");
  EXPECT_EQ(FormatBytes(669000000), "669 MB");
  EXPECT_EQ(FormatBytes(14500000000ULL), "14.5 GB");
  EXPECT_EQ(FormatBytes(999999999), "1.00 GB");
}

TEST(TableTest, PadsColumnsAndTrimsTrailingSpace) {
  Table table({"ID", "SIZE", "NOTE"}, {1});
  table.AddRow({"qwen", "469 MB", ""});
  table.AddRow({"tinyllama", "1 GB", "x"});
  EXPECT_EQ(table.Render(Style(false)),
            "ID           SIZE  NOTE\n"
            "qwen       469 MB\n"
            "tinyllama    1 GB  x\n");
}

TEST(TableTest, ColourDoesNotChangeAlignment) {
  Table table({"A", "B"});
  table.AddRow({Cell("x", Color::kGreen), "y"});
  const std::string out = table.Render(Style(true));
  EXPECT_NE(out.find("\x1b[32mx\x1b[0m  y"), std::string::npos) << out;
}

TEST(PluralTest, SaysOneFileAndTwoFiles) {
  EXPECT_EQ(Plural(0, "file"), "0 files");
  EXPECT_EQ(Plural(1, "file"), "1 file");
  EXPECT_EQ(Plural(2, "file"), "2 files");
  EXPECT_EQ(Plural(3, "entry", "entries"), "3 entries");
}

// A table wider than the terminal: the widest column gives up width and its cells end in "…";
// narrow columns and the header stay whole.
TEST(TableTest, FitsTheTerminalByCuttingTheWidestColumn) {
  Table table({"MODEL", "SIZE", "PATH"}, {1});
  table.AddRow({"tiny", "8.39 MB", "/var/lib/llorch/models/tiny/tiny.Q4_K_M.gguf"});
  table.AddRow({"qwen", "469 MB", "/short"});
  const std::string out = table.Render(Style(false).WithLayout(40, true));
  EXPECT_EQ(out,
            "MODEL     SIZE  PATH\n"
            "tiny   8.39 MB  /var/lib/llorch/models/…\n"
            "qwen    469 MB  /short\n");
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(DisplayWidth(line), 40u) << line;
  // No limit (a pipe, -o wide): nothing cut.
  EXPECT_NE(table.Render(Style(false)).find("tiny.Q4_K_M.gguf\n"), std::string::npos);
}

TEST(TableTest, NoColumnNarrowerThanItsHeaderOrEight) {
  Table table({"ID", "DESCRIPTION"});
  table.AddRow({"a-long-model-id", "a description that goes on"});
  const std::string out = table.Render(Style(false).WithLayout(10, true));
  EXPECT_EQ(out,
            "ID        DESCRIPTION\n"
            "a-long-…  a descript…\n");
}

TEST(TableTest, NoHeadersLeavesTheHeaderLineOut) {
  Table table({"ID", "SIZE"}, {1});
  table.AddRow({"qwen", "469 MB"});
  EXPECT_EQ(table.Render(Style(false).WithLayout(0, false)), "qwen  469 MB\n");
}

TEST(TableTest, FactsHaveNoHeader) {
  Table facts = Table::Facts();
  facts.AddRow({"id", "tinyllama"});
  facts.AddRow({"parameters", "1.1B"});
  EXPECT_EQ(facts.Render(Style(false)),
            "id          tinyllama\n"
            "parameters  1.1B\n");
}

TEST(TruncateTest, CutsCodePointsNotBytes) {
  EXPECT_EQ(Truncate("short", 10), "short");
  EXPECT_EQ(Truncate("日本語のテキスト", 4), "日本語…");
  EXPECT_EQ(Truncate("abc", 1), "…");
}

TEST(WrapTest, WrapsAtSpacesAndIndentsTheRest) {
  EXPECT_EQ(Wrap("the repo may publish no f16 file", 16, "    "),
            "the repo may\n    publish no\n    f16 file");
  EXPECT_EQ(Wrap("unlimited width stays one line", 0, "  "), "unlimited width stays one line");
}

// Protobuf's JSON prints 64-bit integers as strings; ours prints numbers, also inside repeated
// fields, nested messages and Any.
TEST(JsonTest, SixtyFourBitIntegersAreNumbers) {
  pool::v1::DownloadModelResult result;
  pool::v1::DownloadedModel* model = result.add_models();
  model->set_id("big");
  model->set_bytes_fetched(5000000000ULL);
  model->mutable_manifest()->set_size_bytes(18000000000000000000ULL);
  const std::string line = ToJsonLine(result);
  EXPECT_NE(line.find(R"("bytes_fetched":5000000000)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("size_bytes":18000000000000000000)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("id":"big")"), std::string::npos) << line;

  pool::v1::OperationEvent event;
  event.set_sequence(7);
  event.mutable_result()->PackFrom(result);
  const JsonValue json = JsonValue::parse(ToJson(event));
  EXPECT_EQ(json["sequence"], 7);
  EXPECT_TRUE(json["result"]["models"][0]["bytes_fetched"].is_number()) << json.dump();
  EXPECT_EQ(json["result"]["@type"], "type.googleapis.com/llorch.pool.v1.DownloadModelResult");

  // An operation's final result as its own document: without "@type".
  const JsonValue document = JsonValue::parse(ToJsonDocument(event.result()));
  EXPECT_FALSE(document.contains("@type"));
  EXPECT_EQ(document["models"][0]["bytes_fetched"], 5000000000ULL);
}

TEST(VisibleTest, ShowsWhatATerminalWouldObey) {
  const std::string plain = "plain text, ünïcode, \\ and 日本";
  EXPECT_EQ(Visible(plain), plain);
  EXPECT_EQ(Visible("\x1b[2J\x1b]0;title\x07x\r\ny\tz\x7f"),
            R"(\x1b[2J\x1b]0;title\x07x\r\ny\tz\x7f)");
  // C1 controls (U+009B is a one-character CSI), separators and bidi overrides.
  EXPECT_EQ(Visible("a\xc2\x9b"
                    "2Jb\xe2\x80\xa8"
                    "c\xe2\x80\xae"
                    "d\xe2\x81\xa6"
                    "e"),
            R"(a\u009b2Jb\u2028c\u202ed\u2066e)");
  EXPECT_EQ(Visible("bad \xff\xfe bytes"), R"(bad \xff\xfe bytes)");
  EXPECT_EQ(VisibleLines("line 1\n\tline 2\r\n\x1b[31m"), "line 1\n\tline 2\\r\n\\x1b[31m");
}

TEST(VisibleTest, MakeVisibleReachesNestedRepeatedAndPackedStrings) {
  pool::v1::ErrorHint hint;
  hint.set_hint("packed \x1b[2J");
  pool::v1::RpcStatus status;
  status.set_message("top\r\nforged");
  status.add_details()->PackFrom(hint);
  MakeVisible(&status);
  EXPECT_EQ(status.message(), R"(top\r\nforged)");
  ASSERT_TRUE(status.details(0).UnpackTo(&hint));
  EXPECT_EQ(hint.hint(), R"(packed \x1b[2J)");

  // Documents keep their lines.
  pool::v1::LogLine line;
  line.set_text("a\tb\x1b");
  MakeVisible(&line);
  EXPECT_EQ(line.text(), "a\tb\\x1b");
}

TEST(StyleTest, NeverAndAlwaysOverrideTheTerminalCheck) {
  EXPECT_FALSE(Style::For(stdout, "never").enabled());
  EXPECT_TRUE(Style::For(stdout, "always").enabled());
  EXPECT_EQ(Style(false).Paint("x", Color::kRed), "x");
}

TEST(ErrorsTest, DecodesHintAndReasonFromTheAgentStatus) {
  pool::v1::ErrorHint hint;
  hint.set_hint("run llorch-pool models catalog");
  hint.set_reason("MODEL_NOT_FOUND");
  pool::v1::RpcStatus details;
  details.set_code(5);
  details.set_message("unknown model 'qwn'");
  details.add_details()->PackFrom(hint);
  ClientError error = FromGrpcStatus(grpc::Status(
      grpc::StatusCode::NOT_FOUND, "unknown model 'qwn'", details.SerializeAsString()));
  EXPECT_EQ(error.message, "unknown model 'qwn'");
  EXPECT_EQ(error.hint, "run llorch-pool models catalog");
  EXPECT_EQ(error.reason, "MODEL_NOT_FOUND");
  EXPECT_EQ(error.exit_code, kExitUsage);
}

TEST(ErrorsTest, TransportUnavailableMeansAgentUnreachable) {
  ClientError error = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect failed"));
  EXPECT_EQ(error.exit_code, kExitUnreachable);
  EXPECT_NE(error.message.find("cannot reach the agent"), std::string::npos);
  EXPECT_FALSE(error.hint.empty());
}

TEST(ErrorsTest, ClientSideStatusKeepsItsHint) {
  ClientError error =
      FromStatus(WithHint(absl::InvalidArgumentError("bad --agent"), "use unix:PATH"));
  EXPECT_EQ(error.exit_code, kExitUsage);
  EXPECT_EQ(error.hint, "use unix:PATH");
}

pool::v1::OperationEvent ProgressEvent(const std::string& phase, uint64_t done, uint64_t total) {
  pool::v1::OperationEvent event;
  pool::v1::Progress* progress = event.mutable_progress();
  progress->set_phase(phase);
  progress->set_current_item("tinyllama");
  progress->set_unit(pool::v1::PROGRESS_UNIT_BYTES);
  progress->set_done(done);
  progress->set_total(total);
  return event;
}

TEST(FormatProgressTest, ShowsBarPercentAmountsRateAndEta) {
  pool::v1::Progress progress = ProgressEvent("hash", 500'000'000, 1'000'000'000).progress();
  progress.set_rate_per_second(1.1e9);
  progress.mutable_eta()->set_seconds(75);
  EXPECT_EQ(FormatProgress(progress, true),
            "hash tinyllama  [############------------]   50%  500 MB / 1.00 GB  1.10 GB/s  ETA "
            "0:01:15");
  EXPECT_EQ(FormatProgress(progress, false),
            "hash tinyllama   50%  500 MB / 1.00 GB  1.10 GB/s  ETA 0:01:15");
}

// What a ProgressDisplay writes, captured through a memory stream.
class ProgressDisplayTest : public ::testing::Test {
 protected:
  ProgressDisplayTest() { unsetenv("COLUMNS"); }  // bars of full width
  std::string Written() {
    std::fflush(stream_);
    return std::string(buffer_, size_);
  }
  void TearDown() override {
    std::fclose(stream_);
    free(buffer_);
  }
  char* buffer_ = nullptr;
  size_t size_ = 0;
  std::FILE* stream_ = open_memstream(&buffer_, &size_);
};

constexpr uint64_t kMB = 1'000'000;

// One phase fed to a ProgressEstimate on a fake clock.
class ProgressEstimateTest : public ::testing::Test {
 protected:
  // The phase's first event: `done` of `total` at now_.
  void Start(uint64_t total, uint64_t done = 0) {
    total_ = total;
    done_ = done;
    estimate_.Add(done_, total_, now_, now_);
  }
  // `rate` bytes a second for `duration`, an event every 50 ms, calling `each` after each.
  void Feed(double rate, absl::Duration duration, const std::function<void()>& each = nullptr) {
    constexpr absl::Duration kStep = absl::Milliseconds(50);
    for (absl::Duration passed; passed < duration; passed += kStep) {
      now_ += kStep;
      done_ += static_cast<uint64_t>(rate * absl::ToDoubleSeconds(kStep));
      estimate_.Add(done_, total_, now_, now_);
      if (each) each();
    }
  }
  // The time left at `rate`.
  double SecondsLeftAt(double rate) const { return static_cast<double>(total_ - done_) / rate; }

  ProgressEstimate estimate_;
  absl::Time now_ = absl::FromUnixSeconds(1000);
  uint64_t done_ = 0;
  uint64_t total_ = 0;
};

TEST_F(ProgressEstimateTest, RateIsAMovingAverageOverTheLastFewSeconds) {
  Start(0);
  EXPECT_EQ(estimate_.Rate(now_), 0);  // one event: no rate yet
  Feed(1 * kMB, absl::Seconds(10));
  EXPECT_NEAR(estimate_.Rate(now_), 1 * kMB, 1);

  // Four times faster: half a second later the average has moved only part of the way, a
  // dozen seconds later it is there.
  Feed(4 * kMB, absl::Milliseconds(500));
  EXPECT_GT(estimate_.Rate(now_), 1.2 * kMB);
  EXPECT_LT(estimate_.Rate(now_), 2.0 * kMB);
  Feed(4 * kMB, absl::Seconds(12));
  EXPECT_NEAR(estimate_.Rate(now_), 4 * kMB, 0.05 * 4 * kMB);
}

TEST_F(ProgressEstimateTest, KeptBytesOfAResumedDownloadAreNotSpeed) {
  Start(1000 * kMB, 500 * kMB);  // half of it already on disk when the phase starts
  Feed(2 * kMB, absl::Seconds(5));
  EXPECT_NEAR(estimate_.Rate(now_), 2 * kMB, 1);
  EXPECT_NEAR(estimate_.AverageRate(), 2 * kMB, 1);
  EXPECT_EQ(estimate_.Span(), absl::Seconds(5));
}

TEST_F(ProgressEstimateTest, SilenceLowersTheRateAndRaisesTheTimeLeft) {
  Start(100 * kMB);
  Feed(1 * kMB, absl::Seconds(10));
  const absl::Duration eta = *estimate_.Eta(now_);
  EXPECT_EQ(estimate_.Rate(now_ + ProgressEstimate::kStallAfter), estimate_.Rate(now_));
  EXPECT_LT(estimate_.Rate(now_ + absl::Seconds(5)), 0.5 * kMB);
  std::optional<absl::Duration> later;
  for (int i = 1; i <= 50; ++i) later = estimate_.Eta(now_ + i * absl::Milliseconds(100));
  EXPECT_GT(*later, eta);  // stalled: no closer to the end, though 5 s passed
}

// The rate flickers between 2 and 8 MB/s every half second (5 MB/s on average): the time left
// counts down second by second, give or take a few, where remaining / (rate of the last
// interval) jumps between 1 and 6 minutes.
TEST_F(ProgressEstimateTest, TheTimeLeftDoesNotJumpWhenTheRateFlickers) {
  Start(2000 * kMB);
  std::vector<absl::Duration> shown;  // at every redraw, 20 a second
  auto flicker = [&](int half_seconds) {
    for (int i = 0; i < half_seconds; ++i) {
      Feed(i % 2 == 0 ? 2 * kMB : 8 * kMB, absl::Milliseconds(500), [&] {
        if (std::optional<absl::Duration> eta = estimate_.Eta(now_)) shown.push_back(*eta);
      });
    }
  };
  flicker(20);  // settling in
  shown.clear();
  flicker(60);
  ASSERT_EQ(shown.size(), 600u);
  for (size_t i = 20; i < shown.size(); ++i) {
    EXPECT_LE(absl::AbsDuration(shown[i] - (shown[i - 20] - absl::Seconds(1))), absl::Seconds(3))
        << "at redraw " << i << ": " << shown[i - 20] << " then, a second later, " << shown[i];
  }
  EXPECT_NEAR(absl::ToDoubleSeconds(shown.back()), SecondsLeftAt(5 * kMB),
              0.1 * SecondsLeftAt(5 * kMB));
}

TEST_F(ProgressEstimateTest, TheTimeLeftFollowsALastingChangeOfRate) {
  Start(2000 * kMB);
  auto redraw = [&] { estimate_.Eta(now_); };
  Feed(8 * kMB, absl::Seconds(10), redraw);
  Feed(2 * kMB, absl::Seconds(20), redraw);
  EXPECT_NEAR(absl::ToDoubleSeconds(*estimate_.Eta(now_)), SecondsLeftAt(2 * kMB),
              0.1 * SecondsLeftAt(2 * kMB));
}

TEST(ProgressRendererTest, EachPhaseAndItemEndsInASummaryWithElapsedTimeAndAverageRate) {
  ProgressRenderer renderer(/*with_bar=*/false);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  pool::v1::Progress progress = ProgressEvent("download", 0, 10 * kMB).progress();
  EXPECT_EQ(renderer.Add(progress, t0, t0), std::nullopt);
  progress.set_done(10 * kMB);
  EXPECT_EQ(renderer.Add(progress, t0 + absl::Seconds(4), t0 + absl::Seconds(4)), std::nullopt);
  EXPECT_EQ(renderer.Line(t0 + absl::Seconds(4)),
            "download tinyllama  100%  10.0 MB / 10.0 MB  2.50 MB/s");
  progress.set_phase("hash");
  progress.set_done(1 * kMB);
  EXPECT_EQ(renderer.Add(progress, t0 + absl::Seconds(5), t0 + absl::Seconds(5)),
            "download tinyllama  10.0 MB in 4.0s, 2.50 MB/s on average");
  progress.set_current_item("second.gguf");
  EXPECT_EQ(renderer.Add(progress, t0 + absl::Seconds(5), t0 + absl::Seconds(5)),
            "hash tinyllama  1.00 MB of 10.0 MB");  // it lasted no time: no rate
  progress.set_done(4 * kMB);
  renderer.Add(progress, t0 + absl::Seconds(65), t0 + absl::Seconds(65));
  EXPECT_EQ(renderer.Finish(),
            "hash second.gguf  4.00 MB of 10.0 MB in 1m00s, 50.0 kB/s on average");
  EXPECT_EQ(renderer.Finish(), std::nullopt);
}

TEST(ProgressRendererTest, StepsAndObjectsPassInPlaceWithoutASummary) {
  ProgressRenderer renderer(/*with_bar=*/false);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  pool::v1::Progress steps;
  steps.set_phase("setup");
  steps.set_unit(pool::v1::PROGRESS_UNIT_STEPS);
  steps.set_total(4);
  steps.set_current_item("config");
  EXPECT_EQ(renderer.Add(steps, t0, t0), std::nullopt);
  EXPECT_EQ(renderer.Line(t0), "setup config    0%  0 / 4");
  steps.set_current_item("model");
  steps.set_done(1);
  EXPECT_EQ(renderer.Add(steps, t0 + absl::Seconds(1), t0 + absl::Seconds(1)), std::nullopt);
  EXPECT_EQ(renderer.Finish(), std::nullopt);
  EXPECT_EQ(renderer.Line(t0 + absl::Seconds(1)), "");
}

TEST(FormatElapsedTest, TenthsUnderAMinuteThenMinutesAndHours) {
  EXPECT_EQ(FormatElapsed(absl::Milliseconds(4240)), "4.2s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(185)), "3m05s");
  EXPECT_EQ(FormatElapsed(absl::Seconds(3723)), "1h02m03s");
}

TEST_F(ProgressDisplayTest, PlainLinesAtMostEveryFiveSecondsPlusSummariesWithoutEscapes) {
  ProgressDisplay display(stream_, /*terminal=*/false, /*quiet=*/false, Style(false));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  for (int i = 0; i <= 120; ++i) {  // 12 s of events, 10 a second, 1 MB/s
    display.OnEvent(ProgressEvent("download", i * kMB / 10, 12 * kMB),
                    t0 + i * absl::Milliseconds(100));
  }
  display.OnEvent(ProgressEvent("hash", 6 * kMB, 12 * kMB), t0 + absl::Milliseconds(12100));
  display.OnEvent(ProgressEvent("hash", 12 * kMB, 12 * kMB), t0 + absl::Milliseconds(12200));
  display.Finish();
  const std::string written = Written();
  EXPECT_EQ(written.find('\x1b'), std::string::npos);
  EXPECT_EQ(written.find('\r'), std::string::npos);
  EXPECT_EQ(written,
            "download tinyllama    0%  0 B / 12.0 MB\n"
            "download tinyllama   41%  5.00 MB / 12.0 MB  1.00 MB/s  ETA 0:00:07\n"
            "download tinyllama   83%  10.0 MB / 12.0 MB  1.00 MB/s  ETA 0:00:02\n"
            "download tinyllama  12.0 MB in 12.0s, 1.00 MB/s on average\n"
            "hash tinyllama  12.0 MB in 0.1s, 60.0 MB/s on average\n");
}

TEST_F(ProgressDisplayTest, TerminalRedrawsInPlaceAtMostEvery50MsAndLogsScrollAbove) {
  ProgressDisplay display(stream_, /*terminal=*/true, /*quiet=*/false, Style(false),
                          /*timer=*/false);
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  display.OnEvent(ProgressEvent("hash", 1, 4), t0);
  pool::v1::OperationEvent log;
  log.mutable_log()->set_text("reading header");
  display.OnEvent(log, t0);
  display.OnEvent(ProgressEvent("hash", 2, 4), t0 + absl::Milliseconds(10));  // too soon
  display.Tick(t0 + absl::Milliseconds(40));                                  // still too soon
  display.Tick(t0 + absl::Milliseconds(50));
  display.Finish();
  const std::string one = "hash tinyllama  [######------------------]   25%  1 B / 4 B";
  const std::string two = "hash tinyllama  [############------------]   50%  2 B / 4 B  100 B/s";
  EXPECT_EQ(Written(), "\r\x1b[2K" + one + "\r\x1b[2Kreading header\n\r\x1b[2K" + one +
                           "\r\x1b[2K" + two +
                           "\r\x1b[2Khash tinyllama  2 B of 4 B in 0.0s, 100 B/s on average\n");
}

TEST_F(ProgressDisplayTest, QuietShowsNothing) {
  ProgressDisplay display(stream_, /*terminal=*/true, /*quiet=*/true, Style(false));
  display.OnEvent(ProgressEvent("hash", 1, 4));
  display.Finish();
  EXPECT_EQ(Written(), "");
}

}  // namespace
}  // namespace llorch
