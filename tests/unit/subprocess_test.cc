// RunSubprocess with ordinary programs (printf, ls, env, pwd, sleep): lines as a caller sees them
// (terminators, redraws, long lines, both streams), environment and working directory, exit
// status and signals, stopping, and the errors for programs that cannot run. Plus ToValidUtf8,
// which makes a child's bytes fit a log line.
#include "common/subprocess.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/strings.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

struct Captured {
  OutputLine::Stream stream;
  std::string text;
  bool redraw;
  bool operator==(const Captured& other) const {
    return stream == other.stream && text == other.text && redraw == other.redraw;
  }
};

constexpr auto kOut = OutputLine::Stream::kStdout;
constexpr auto kErr = OutputLine::Stream::kStderr;

// Runs `argv` and returns every line it printed; `options` may be adjusted first.
std::vector<Captured> Lines(const std::vector<std::string>& argv, SubprocessResult* result,
                            SubprocessOptions options = {}) {
  std::vector<Captured> lines;
  options.argv = argv;
  options.on_line = [&](const OutputLine& line) {
    lines.push_back({line.stream, std::string(line.text), line.redraw});
  };
  absl::StatusOr<SubprocessResult> run = RunSubprocess(options);
  EXPECT_TRUE(run.ok()) << run.status();
  if (run.ok() && result != nullptr) *result = *run;
  return lines;
}

TEST(SubprocessTest, SplitsStdoutIntoLinesWhateverTheTerminator) {
  SubprocessResult result;
  EXPECT_THAT(Lines({"printf", "one\ntwo\r\nthree"}, &result),
              ElementsAre(Captured{kOut, "one", false}, Captured{kOut, "two", false},
                          Captured{kOut, "three", false}));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_TRUE(result.succeeded());
}

TEST(SubprocessTest, ProgressBarRedrawsAreMarkedAndTheirLeadingReturnIsNoLine) {
  EXPECT_THAT(Lines({"printf", "\r 10%%\r 50%%\r100%%\ndone\n"}, nullptr),
              ElementsAre(Captured{kOut, " 10%", true}, Captured{kOut, " 50%", true},
                          Captured{kOut, "100%", false}, Captured{kOut, "done", false}));
}

TEST(SubprocessTest, CutsOverlongLinesIntoPieces) {
  SubprocessOptions options;
  options.max_line_bytes = 4;
  EXPECT_THAT(Lines({"printf", "abcdefghij\n"}, nullptr, options),
              ElementsAre(Captured{kOut, "abcd", false}, Captured{kOut, "efgh", false},
                          Captured{kOut, "ij", false}));
}

TEST(SubprocessTest, HandsOverStdoutByteForByteWhenAsked) {
  SubprocessOptions options;
  options.max_line_bytes = 4;
  std::string bytes;
  options.on_stdout_bytes = [&](absl::string_view data) { bytes.append(data.data(), data.size()); };
  EXPECT_THAT(Lines({"printf", "a\\r\\nb\\0c\\rdefghij"}, nullptr, options), ElementsAre());
  EXPECT_EQ(bytes, std::string("a\r\nb\0c\rdefghij", 14));
}

TEST(SubprocessTest, ReportsStderrAndKeepsItsTailForErrors) {
  SubprocessOptions options;
  options.tail_lines = 2;
  SubprocessResult result;
  std::vector<Captured> lines =
      Lines({"ls", "/nonexistent-llorch-a", "/nonexistent-llorch-b", "/nonexistent-llorch-c"},
            &result, options);
  ASSERT_EQ(lines.size(), 3u);
  for (const Captured& line : lines) EXPECT_EQ(line.stream, kErr);
  EXPECT_NE(result.exit_code, 0);
  EXPECT_FALSE(result.succeeded());
  EXPECT_EQ(result.Describe(), "exit " + std::to_string(result.exit_code));
  ASSERT_EQ(result.stderr_tail.size(), 2u);
  EXPECT_THAT(result.stderr_tail[0], HasSubstr("nonexistent-llorch-b"));
  EXPECT_THAT(result.stderr_tail[1], HasSubstr("nonexistent-llorch-c"));
}

TEST(SubprocessTest, SetsTheEnvironmentOnTopOfTheAgentsOrAlone) {
  SubprocessOptions options;
  options.clear_env = true;
  options.env = {{"LLORCH_A", "1"}, {"LLORCH_EMPTY", ""}};
  EXPECT_THAT(
      Lines({"/usr/bin/env"}, nullptr, options),
      ElementsAre(Captured{kOut, "LLORCH_A=1", false}, Captured{kOut, "LLORCH_EMPTY=", false}));

  options.clear_env = false;
  setenv("LLORCH_INHERITED", "yes", 1);
  std::vector<std::string> texts;
  for (const Captured& line : Lines({"env"}, nullptr, options)) texts.push_back(line.text);
  unsetenv("LLORCH_INHERITED");
  EXPECT_THAT(texts, ::testing::IsSupersetOf({"LLORCH_A=1", "LLORCH_INHERITED=yes"}));
}

TEST(SubprocessTest, RunsInTheWorkingDirectory) {
  testing::TempDir dir;
  SubprocessOptions options;
  options.working_dir = dir.path();
  const std::string real = std::filesystem::canonical(dir.path()).string();
  EXPECT_THAT(Lines({"pwd", "-P"}, nullptr, options), ElementsAre(Captured{kOut, real, false}));

  options.working_dir = dir.path() + "/missing";
  options.argv = {"pwd"};
  absl::StatusOr<SubprocessResult> result = RunSubprocess(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(result.status().message(), HasSubstr("working directory " + dir.path() + "/missing"));
}

TEST(SubprocessTest, StoppingTerminatesTheChild) {
  SubprocessOptions options;
  options.argv = {"sleep", "600"};
  options.should_stop = [] { return true; };
  absl::StatusOr<SubprocessResult> result = RunSubprocess(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->stopped);
  EXPECT_FALSE(result->succeeded());
  EXPECT_EQ(result->signal, SIGTERM);
  EXPECT_EQ(result->exit_code, -1);
  EXPECT_THAT(result->Describe(), HasSubstr("killed by signal 15"));
}

TEST(SubprocessTest, TicksWhileTheChildRuns) {
  int ticks = 0;
  SubprocessOptions options;
  options.argv = {"sleep", "600"};
  options.poll_interval = absl::Milliseconds(1);
  options.on_tick = [&] { ++ticks; };
  options.should_stop = [&] { return ticks >= 3; };
  absl::StatusOr<SubprocessResult> result = RunSubprocess(options);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->stopped);
  EXPECT_GE(ticks, 3);
}

TEST(SubprocessTest, ProgramsThatCannotRunAreNamedInTheError) {
  SubprocessOptions options;
  options.argv = {"llorch-no-such-program"};
  options.env = {{"PATH", "/nonexistent-a:/nonexistent-b"}};
  absl::StatusOr<SubprocessResult> result = RunSubprocess(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(result.status().message(),
            "program 'llorch-no-such-program' was not found in PATH "
            "(/nonexistent-a:/nonexistent-b)");

  options.argv = {"/nonexistent/tool"};
  EXPECT_EQ(RunSubprocess(options).status().message(), "/nonexistent/tool does not exist");

  testing::TempDir dir;
  const std::string plain = dir.path() + "/plain";
  std::ofstream(plain) << "not a program";
  options.argv = {plain};
  result = RunSubprocess(options);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(result.status().message(), plain + " is not an executable file");

  options.argv = {};
  EXPECT_EQ(RunSubprocess(options).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(FindExecutableTest, SearchesPathInOrderAndSkipsWhatIsNotExecutable) {
  testing::TempDir dir;
  const std::filesystem::path a = std::filesystem::path(dir.path()) / "a";
  const std::filesystem::path b = std::filesystem::path(dir.path()) / "b";
  std::filesystem::create_directories(a);
  std::filesystem::create_directories(b);
  std::ofstream(a / "tool") << "#!/bin/false\n";  // not executable: skipped
  std::ofstream(b / "tool") << "#!/bin/false\n";
  chmod((b / "tool").c_str(), 0755);
  EXPECT_EQ(FindExecutable("tool", a.string() + ":" + b.string()), (b / "tool").string());
  EXPECT_EQ(FindExecutable("tool", a.string()), std::nullopt);
  EXPECT_EQ(FindExecutable((b / "tool").string(), ""), (b / "tool").string());
  EXPECT_EQ(FindExecutable("", b.string()), std::nullopt);
}

TEST(ToValidUtf8Test, KeepsWellFormedTextAndReplacesEveryBadByte) {
  EXPECT_EQ(ToValidUtf8("plain ascii"), "plain ascii");
  EXPECT_EQ(ToValidUtf8("\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
            "\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(ToValidUtf8("a\xff"
                        "b"),
            "a" + fffd + "b");
  EXPECT_EQ(ToValidUtf8("\xc0\xaf"), fffd + fffd);                        // overlong '/'
  EXPECT_EQ(ToValidUtf8("\xed\xa0\x80"), fffd + fffd + fffd);             // a UTF-16 surrogate
  EXPECT_EQ(ToValidUtf8("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // above U+10FFFF
  EXPECT_EQ(ToValidUtf8("ok\xe2\x82"), "ok" + fffd + fffd);               // cut short at the end
}

}  // namespace
}  // namespace llorch
