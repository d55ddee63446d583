// `llorch-pool models download` as a user runs it, installed, against the fake Hub (HF_ENDPOINT):
// standalone with progress and a result table, JSON lines, a 404, an agent killed with -9
// mid-download and restarted (the download resumes, also on a nearly full disk), two standalone
// CLIs at once (one downloads, the other waits and finds it done), an agent's operation waiting
// for a standalone CLI (seen over gRPC), and a Hub that vouches for a file by its git blob id
// while its CDN sends other bytes.
#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/models/store/sha256_file.h"
#include "common/address.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/pty_session.h"
#include "tests/support/small_disk.h"
#include "tests/support/tree_snapshot.h"

namespace llorch::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr uint64_t kSize = 8 << 20;
constexpr char kRepo[] = "owner/Tiny-GGUF";
constexpr char kFile[] = "tiny.Q4_K_M.gguf";

class DownloadE2eTest : public ::testing::Test {
 protected:
  DownloadE2eTest() : content_(GgufFileOfSize(kSize, 11)) {
    hub_.AddFile(kRepo, kFile, content_);
    WriteFileBytes(env_.Path("catalog.toml"), absl::StrCat(R"([[models]]
id = "tiny"
name = "Tiny"
repo = ")",
                                                           kRepo, R"("
file = ")",
                                                           kFile, R"("
dir = "tiny"
size_bytes = )",
                                                           kSize, R"(
verified = true

[[models]]
id = "ghost"
name = "Ghost"
repo = "owner/Ghost-GGUF"
file = "ghost.f16.gguf"
dir = "ghost"
size_bytes = 1000
verified = false
note = "the repo may publish no f16 file"
)"));
    env_.env()["LLORCH_CATALOG"] = env_.Path("catalog.toml");
    env_.env()["HF_ENDPOINT"] = hub_.endpoint();
  }

  std::string ModelPath() const { return env_.models_dir() + "/tiny/" + kFile; }
  std::string StatePath() const {
    return env_.models_dir() + "/tiny/.llorch/" + std::string(kFile) + ".partial.json";
  }

  // Bytes the partial download's saved state (at `state_path`) claims.
  uint64_t SavedBytes(const std::string& state_path = "") const {
    nlohmann::json state = nlohmann::json::parse(
        ReadFileBytes(state_path.empty() ? StatePath() : state_path), nullptr, false);
    uint64_t bytes = 0;
    if (state.is_object() && state["done"].is_array()) {
      for (const auto& done : state["done"]) bytes += done.get<uint64_t>();
    }
    return bytes;
  }

  CommandOptions Options() {
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = env_.Path("work");
    return options;
  }

  E2eEnvironment env_;
  FakeHub hub_;
  std::string content_;
};

TEST_F(DownloadE2eTest, DownloadsWithProgressAndSaysSoTheSecondTime) {
  CommandResult result = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_THAT(result.out, HasSubstr("tiny"));
  EXPECT_THAT(result.out, HasSubstr("downloaded"));
  EXPECT_THAT(result.out, HasSubstr(Sha256Of(content_).substr(0, 16)));
  EXPECT_THAT(result.out, HasSubstr("Hub SHA-256"));
  EXPECT_THAT(result.out, HasSubstr("1 model downloaded and verified"));
  // Not a terminal: plain progress lines, a summary of the download and the agent's narration
  // on stderr, no escape codes.
  EXPECT_THAT(result.err, ::testing::ContainsRegex("download tiny.Q4_K_M.gguf +[0-9]+%  "));
  // The elapsed time and rate come from the progress events' times: a download whose bytes all
  // arrive between two of them (unthrottled, on loopback) has none to show.
  EXPECT_THAT(result.err,
              ::testing::ContainsRegex("download tiny.Q4_K_M.gguf  8.39 MB( in [0-9.]+s, [0-9.]+ "
                                       "[kMG]?B/s on average)?\n"));
  EXPECT_THAT(result.err, HasSubstr("SHA-256 matches the Hub's"));
  EXPECT_THAT(result.err, Not(HasSubstr("\x1b")));
  EXPECT_THAT(result.err, Not(HasSubstr("\r")));

  CommandResult list = env_.Run({"models", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("downloaded"));

  CommandResult again = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.out, HasSubstr("already downloaded"));
  EXPECT_THAT(again.err, HasSubstr("tiny is already downloaded and verified"));
}

// The download phase's summary line says how long it took: "download tiny.Q4_K_M.gguf  8.39 MB
// in 2.8s, 3.00 MB/s on average". -1 when there is none.
double DownloadSeconds(const std::string& text) {
  const std::string start = absl::StrCat("download ", kFile, "  8.39 MB in ");
  const size_t at = text.find(start);
  if (at == std::string::npos) return -1;
  return std::strtod(text.c_str() + at + start.size(), nullptr);
}

// At a terminal the progress line is redrawn in place as bytes arrive, at least 10 times a second
// (the agent emits progress every 50 ms, the CLI redraws on each and on a 50 ms timer), and the
// download leaves a summary line with its elapsed time and average rate. The redraws are
// counted in what the terminal received, against the duration the summary gives.
TEST_F(DownloadE2eTest, AtATerminalTheProgressLineChangesTenTimesASecondWhileBytesFlow) {
  hub_.SetFaults({.bytes_per_second_per_connection = 3 << 20});  // 8 MiB: about 2.7 s
  PtySession terminal({InstalledBinary("llorch-pool"), "models", "download", "tiny"}, Options());
  ASSERT_EQ(terminal.Wait(), 0) << terminal.screen();
  const double seconds = DownloadSeconds(terminal.text());
  ASSERT_GE(seconds, 2.0) << terminal.text();  // long enough for a count per second to mean much

  // Each redraw is "\r ESC[2K" and the line; count those of the download that differ from the
  // one before.
  const std::string redraw = "\r\x1b[2K";
  const std::string live = absl::StrCat("download ", kFile, "  [");
  int changes = 0;
  std::string previous;
  for (size_t at = terminal.screen().find(redraw); at != std::string::npos;) {
    const size_t start = at + redraw.size();
    const size_t next = terminal.screen().find_first_of("\r\n", start);
    const std::string line = terminal.screen().substr(start, next - start);
    if (line.rfind(live, 0) == 0 && line != previous) ++changes;
    previous = line;
    at = terminal.screen().find(redraw, start);
  }
  EXPECT_GE(changes, 10 * seconds) << changes << " redraws in " << seconds << " s:\n"
                                   << terminal.text();
  // The line has a bar, the moving-average rate and the time left.
  EXPECT_THAT(terminal.screen(), ::testing::ContainsRegex("\\] +[0-9]+%  [0-9.]+ MB / 8.39 MB  "
                                                          "[0-9.]+ MB/s  ETA 0:00:0[0-9]"));
}

// In a pipe the same download prints a line as it starts and its summary, nothing between: a
// progress line at most every 5 seconds.
TEST_F(DownloadE2eTest, InAPipeProgressLinesComeAtMostEveryFiveSeconds) {
  hub_.SetFaults({.bytes_per_second_per_connection = 3 << 20});  // 8 MiB: about 2.7 s
  CommandResult result = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const double seconds = DownloadSeconds(result.err);
  ASSERT_GE(seconds, 2.0) << result.err;
  int lines = 0;
  for (absl::string_view line : absl::StrSplit(result.err, '\n')) {
    if (absl::StartsWith(line, "download tiny")) ++lines;
  }
  EXPECT_LE(lines, 2 + static_cast<int>(seconds / 5)) << result.err;
  EXPECT_THAT(result.err, Not(HasSubstr("\x1b")));
  EXPECT_THAT(result.err, Not(HasSubstr("\r")));
}

// What the bash scripts left is hashed, found to be the Hub's and adopted: the result says so.
TEST_F(DownloadE2eTest, AFileTheBashScriptsLeftIsAdoptedNotDownloaded) {
  WriteFileBytes(ModelPath(), content_);
  CommandResult result = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("adopted"));
  EXPECT_THAT(result.out, Not(HasSubstr("already downloaded")));
  EXPECT_THAT(result.err, HasSubstr("adopted, nothing downloaded"));
  EXPECT_EQ(hub_.bytes_sent(), 0u);
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
}

// `models lock` pins tiny beside the catalog; after the Hub moved on, a download installs the
// pinned bytes and says the Hub moved; a lock file broken by hand stops the CLI with its line.
TEST_F(DownloadE2eTest, ALockedModelInstallsThePinnedBytesAfterTheHubMovedOn) {
  CommandResult locked = env_.Run({"models", "lock", "tiny"});
  ASSERT_EQ(locked.exit_code, 0) << locked.err;
  const std::string lock_path = env_.Path("catalog.lock.toml");
  EXPECT_THAT(locked.out, HasSubstr("pinned"));
  EXPECT_THAT(locked.out, HasSubstr(hub_.commit(kRepo).substr(0, 12)));
  EXPECT_THAT(locked.out, HasSubstr("Lock file: " + lock_path + " (written)"));
  const std::string lock_text = ReadFileBytes(lock_path);
  EXPECT_THAT(lock_text, HasSubstr("sha256 = \"" + Sha256Of(content_) + "\""));
  // The same pins again: the same bytes, nothing written.
  CommandResult again = env_.Run({"models", "lock", "tiny", "ghost"});
  EXPECT_EQ(again.exit_code, 1) << again.err;  // the Hub has no ghost
  EXPECT_THAT(again.out, HasSubstr("kept"));
  EXPECT_THAT(again.out, HasSubstr("FAILED"));
  EXPECT_EQ(ReadFileBytes(lock_path), lock_text);

  CommandResult catalog = env_.Run({"models", "catalog", "tiny", "-o", "json"});
  ASSERT_EQ(catalog.exit_code, 0) << catalog.err;
  const nlohmann::json document = nlohmann::json::parse(catalog.out);
  EXPECT_EQ(document["entries"][0]["model"]["pin"]["commit"], hub_.commit(kRepo));
  // With a pin in the catalog, its table has a PINNED column with the short commit.
  CommandResult table = env_.Run({"models", "catalog", "tiny"});
  EXPECT_THAT(table.out, HasSubstr("PINNED"));
  EXPECT_THAT(table.out, HasSubstr(hub_.commit(kRepo).substr(0, 12)));

  const std::string pinned = hub_.commit(kRepo);
  hub_.AddFile(kRepo, kFile, GgufFileOfSize(kSize, 12));
  CommandResult downloaded = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(downloaded.exit_code, 0) << downloaded.err;
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_THAT(downloaded.err,
              HasSubstr("the Hub moved on: main of " + std::string(kRepo) + " is at commit " +
                        hub_.commit(kRepo) + ", the lock pins " + pinned));

  std::string broken = lock_text;
  broken.replace(broken.find(pinned), pinned.size(), "zzz");
  WriteFileBytes(lock_path, broken);
  CommandResult refused = env_.Run({"models", "catalog"});
  EXPECT_EQ(refused.exit_code, 2) << refused.out << refused.err;
  EXPECT_THAT(refused.err, HasSubstr(lock_path + ":12: model 'tiny': commit must be 40 "
                                                 "lower-case hex digits, got 'zzz'"));
}

// -o json: one document, the final result, sizes as numbers (`jq '.size_bytes > 1e9'` works).
TEST_F(DownloadE2eTest, JsonOutputIsOneDocumentTheFinalResult) {
  CommandResult result = env_.Run({"models", "download", "tiny", "-o", "json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const nlohmann::json document = nlohmann::json::parse(result.out);  // the whole of stdout
  EXPECT_FALSE(document.contains("@type"));
  ASSERT_EQ(document["models"].size(), 1u);
  EXPECT_EQ(document["models"][0]["manifest"]["sha256"], Sha256Of(content_));
  EXPECT_EQ(document["models"][0]["manifest"]["size_bytes"], kSize);  // a number, not "8388608"
  EXPECT_EQ(document["models"][0]["bytes_fetched"], kSize);
  EXPECT_EQ(document["models"][0]["local_path"], ModelPath());
  EXPECT_EQ(result.err, "");  // JSON mode: no progress on stderr
}

// -o jsonl and --events: every event, one JSON object a line, the last one with the result.
TEST_F(DownloadE2eTest, JsonlOutputIsOneEventPerLineEndingWithTheResult) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"models", "download", "tiny", "--force", "-o", "jsonl"},
        std::vector<std::string>{"models", "download", "tiny", "--force", "--events"}}) {
    CommandResult result = env_.Run(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    std::istringstream lines(result.out);
    std::string line;
    nlohmann::json last;
    int events = 0;
    while (std::getline(lines, line)) {
      last = nlohmann::json::parse(line);
      ++events;
      EXPECT_TRUE(last["sequence"].is_number()) << line;
    }
    EXPECT_GT(events, 2) << args.back();
    EXPECT_EQ(last["final"], true);
    EXPECT_EQ(last["state"], "OPERATION_STATE_SUCCEEDED");
    EXPECT_EQ(last["result"]["@type"], "type.googleapis.com/llorch.pool.v1.DownloadModelResult");
    EXPECT_EQ(last["result"]["models"][0]["manifest"]["sha256"], Sha256Of(content_));
    EXPECT_EQ(result.err, "");
  }
}

// -q: the installed paths only, one a line, as `hf download` prints them; also when the model
// was already there.
TEST_F(DownloadE2eTest, QuietPrintsOnlyTheInstalledPath) {
  CommandResult first = env_.Run({"models", "download", "tiny", "-q"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(first.out, ModelPath() + "\n");
  EXPECT_EQ(first.err, "");
  CommandResult again = env_.Run({"models", "download", "tiny", "-q"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(again.out, ModelPath() + "\n");
}

// Several models, one command: a failure does not stop the others; a row per model, exit 1.
TEST_F(DownloadE2eTest, SeveralModelsAreEachTriedAndEachGetsARow) {
  CommandResult result = env_.Run({"models", "download", "ghost", "tiny"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);  // tiny came after the failed ghost
  EXPECT_THAT(result.err, HasSubstr("error: repository owner/Ghost-GGUF not found"));
  EXPECT_THAT(result.out,
              ::testing::ContainsRegex("\nghost +failed +repository owner/Ghost-GGUF not found"));
  EXPECT_THAT(result.out, ::testing::ContainsRegex("\ntiny +downloaded +8.39 MB"));
  EXPECT_THAT(result.out, HasSubstr("1 of 2 models failed; 1 model downloaded and verified\n"));

  // Again: tiny is there already; ghost still fails; the same in JSON, one document.
  CommandResult json = env_.Run({"models", "download", "tiny", "ghost", "-o", "json"});
  EXPECT_EQ(json.exit_code, 1);
  const nlohmann::json document = nlohmann::json::parse(json.out);
  ASSERT_EQ(document["models"].size(), 1u) << json.out;
  EXPECT_EQ(document["models"][0]["id"], "tiny");
  EXPECT_EQ(document["models"][0]["already_present"], true);
  ASSERT_EQ(document["failed"].size(), 1u);
  EXPECT_EQ(document["failed"][0]["id"], "ghost");
  EXPECT_THAT(document["failed"][0]["message"].get<std::string>(),
              HasSubstr("repository owner/Ghost-GGUF not found"));
  EXPECT_THAT(document["failed"][0]["hint"].get<std::string>(), HasSubstr("unverified"));

  // -q: the path of what is installed; the failure on stderr.
  CommandResult quiet = env_.Run({"models", "download", "ghost", "tiny", "-q"});
  EXPECT_EQ(quiet.exit_code, 1);
  EXPECT_EQ(quiet.out, ModelPath() + "\n");
  EXPECT_THAT(quiet.err, HasSubstr("error: repository owner/Ghost-GGUF not found"));

  // verify: an unknown id is a failed row, the others are verified.
  CommandResult verify = env_.Run({"models", "verify", "nosuch", "tiny"});
  EXPECT_EQ(verify.exit_code, 1);
  EXPECT_THAT(verify.err, HasSubstr("error: unknown model 'nosuch'"));
  EXPECT_THAT(verify.out, ::testing::ContainsRegex("\ntiny +\\S*" + std::string(kFile) + " +ok"));
  EXPECT_THAT(verify.out, ::testing::ContainsRegex("\nnosuch +FAILED +unknown model 'nosuch'"));
  EXPECT_THAT(verify.out, HasSubstr("1 of 2 models failed verification\n"));
  EXPECT_EQ(env_.Run({"models", "verify", "tiny", "tiny"}).exit_code, 0);
}

TEST_F(DownloadE2eTest, AFileTheHubDoesNotHaveIsAnActionableError) {
  CommandResult result = env_.Run({"models", "download", "ghost"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("error: repository owner/Ghost-GGUF not found"));
  EXPECT_THAT(result.err, HasSubstr("ghost.f16.gguf at revision main"));
  EXPECT_THAT(result.err, HasSubstr("hint: the catalog marks ghost unverified"));
}

// The hostile case of issue 10: <dir>/.llorch links to another directory holding a partial
// download of other bytes. Following the link deleted those files and wrote the lock, partial
// and manifest there; now the download stops before anything is written, and says why.
TEST_F(DownloadE2eTest, ASymlinkedMetadataDirIsRefusedAndNothingOutsideIsTouched) {
  namespace fs = std::filesystem;
  const std::string outside = env_.Path("outside");
  WriteFileBytes(outside + "/" + kFile + ".partial", "someone else's partial");
  WriteFileBytes(outside + "/" + kFile + ".partial.json", R"({"version": 1})");
  fs::create_directories(env_.models_dir() + "/tiny");
  fs::create_directory_symlink(outside, env_.models_dir() + "/tiny/.llorch");
  CommandResult result = env_.Run({"models", "download", "tiny"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("error: " + env_.models_dir() +
                                    "/tiny/.llorch is a symlink (to " + outside + ")"));
  EXPECT_THAT(result.err, HasSubstr("hint: replace the link with the directory itself"));
  EXPECT_EQ(ReadFileBytes(outside + "/" + kFile + ".partial"), "someone else's partial");
  EXPECT_EQ(ReadFileBytes(outside + "/" + kFile + ".partial.json"), R"({"version": 1})");
  EXPECT_EQ(std::distance(fs::directory_iterator(outside), fs::directory_iterator()), 2);
  EXPECT_FALSE(fs::exists(ModelPath()));
  EXPECT_EQ(hub_.bytes_sent(), 0u);

  // The model directory itself a link: refused, and no .llorch/ appears in its target.
  const std::string target = env_.Path("target");
  fs::create_directories(target);
  fs::remove(env_.models_dir() + "/tiny/.llorch");
  fs::remove(env_.models_dir() + "/tiny");
  fs::create_directory_symlink(target, env_.models_dir() + "/tiny");
  CommandResult dir = env_.Run({"models", "download", "tiny"});
  EXPECT_EQ(dir.exit_code, 1);
  EXPECT_THAT(dir.err, HasSubstr("/tiny is a symlink (to " + target + ")"));
  EXPECT_TRUE(fs::is_empty(target));
}

TEST_F(DownloadE2eTest, AHubThatKeepsFailingEndsInItsOwnErrorNotInAnUnreachableAgent) {
  WriteFileBytes(env_.Path("config/llorch/pool.toml"), "[download]\nmax_attempts = 2\n");
  hub_.SetFaults({.error_count = 1000, .error_status = 503});
  CommandResult result = env_.Run({"models", "download", "tiny"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.err, HasSubstr("error: cannot reach the Hub at " + hub_.endpoint()));
  EXPECT_THAT(result.err, HasSubstr("HTTP 503 (gave up after 2 attempts in a row)"));
  EXPECT_THAT(result.err, ::testing::Not(HasSubstr("cannot reach the agent")));
  EXPECT_THAT(result.err, HasSubstr("hint: check the network"));
}

TEST_F(DownloadE2eTest, AnAgentKilledMidDownloadResumesAfterRestart) {
  hub_.SetFaults({.bytes_per_second_per_connection = 2 << 20});  // 4 s for the file
  const std::string socket = env_.Path("run/agent.sock");
  const std::vector<std::string> agent_argv = {InstalledBinary("pool-agent"), "--listen",
                                               "unix:" + socket};
  const std::vector<std::string> cli_argv = {
      InstalledBinary("llorch-pool"), "--agent", "unix:" + socket, "models", "download", "tiny"};
  {
    BackgroundProcess agent(agent_argv, Options(), env_.Path("agent1.log"));
    ASSERT_TRUE(WaitFor([&] { return std::filesystem::exists(socket); }));
    BackgroundProcess cli(cli_argv, Options(), env_.Path("cli1.log"));
    ASSERT_TRUE(WaitFor([&] { return SavedBytes() >= kSize / 4; }))
        << ReadFileBytes(env_.Path("cli1.log"));
    agent.Stop(SIGKILL);
    EXPECT_NE(cli.Wait(), 0);
  }
  const uint64_t kept = SavedBytes();
  ASSERT_GT(kept, 0u);
  ASSERT_FALSE(std::filesystem::exists(ModelPath()));

  hub_.SetFaults({});
  hub_.ResetStats();
  BackgroundProcess agent(agent_argv, Options(), env_.Path("agent2.log"));
  // The killed agent's socket file is still there: wait for the new one to serve.
  ASSERT_TRUE(WaitFor(
      [&] { return ReadFileBytes(env_.Path("agent2.log")).find("serving") != std::string::npos; }));
  CommandResult result = RunCommand(cli_argv, Options());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_LE(hub_.bytes_sent(), kSize - kept);  // the kept bytes were not fetched again
  EXPECT_THAT(result.err, HasSubstr("resuming: "));
}

TEST_F(DownloadE2eTest, AStandaloneCliKilledMidDownloadResumesNextTime) {
  hub_.SetFaults({.bytes_per_second_per_connection = 2 << 20});
  {
    BackgroundProcess cli({InstalledBinary("llorch-pool"), "models", "download", "tiny"}, Options(),
                          env_.Path("cli.log"));
    ASSERT_TRUE(WaitFor([&] { return SavedBytes() >= kSize / 4; }));
    EXPECT_EQ(cli.Stop(SIGKILL), 128 + SIGKILL);
  }
  const uint64_t kept = SavedBytes();
  hub_.SetFaults({});
  hub_.ResetStats();
  CommandResult result = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_LE(hub_.bytes_sent(), kSize - kept);
}

TEST_F(DownloadE2eTest, TwoStandaloneClisDownloadTheModelOnce) {
  // Paced so that the first, which fetches only once it holds the model's lock, is still at it
  // when the second gets there (a second or more for a slow start, as under ThreadSanitizer).
  hub_.SetFaults({.bytes_per_second_per_connection = 1 << 20});
  const std::vector<std::string> argv = {InstalledBinary("llorch-pool"), "models", "download",
                                         "tiny"};
  BackgroundProcess first(argv, Options(), env_.Path("first.log"));
  ASSERT_TRUE(WaitFor([&] { return hub_.bytes_sent() > 0; }));
  BackgroundProcess second(argv, Options(), env_.Path("second.log"));
  ASSERT_TRUE(WaitFor([&] {
    return ReadFileBytes(env_.Path("second.log")).find("waiting for process ") != std::string::npos;
  })) << "the first finished before the second was waiting:\n"
      << ReadFileBytes(env_.Path("second.log"));
  EXPECT_EQ(first.Wait(), 0) << ReadFileBytes(env_.Path("first.log"));
  EXPECT_EQ(second.Wait(), 0) << ReadFileBytes(env_.Path("second.log"));
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_EQ(hub_.bytes_sent(), kSize);  // fetched once
  const std::string second_log = ReadFileBytes(env_.Path("second.log"));
  EXPECT_THAT(second_log, HasSubstr("waiting for process "));
  EXPECT_THAT(second_log, HasSubstr("(llorch-pool), operation op-"));
  EXPECT_THAT(second_log, HasSubstr("(model.download) to finish with model tiny"));
  EXPECT_THAT(second_log, HasSubstr("already downloaded"));
}

// An orchestrator asks the agent for a model a standalone CLI is downloading: the agent's
// operation is PENDING and names the CLI's process (not the agent's own pid, and no operation id
// of its own), then runs once the CLI lets go, and downloads the model.
TEST_F(DownloadE2eTest, AnAgentOperationWaitingForAStandaloneCliNamesItsProcess) {
  hub_.SetFaults({.stall_after_bytes = 1 << 20, .stall_count = 1});  // the CLI's download stalls
  BackgroundProcess cli({InstalledBinary("llorch-pool"), "models", "download", "tiny"}, Options(),
                        env_.Path("cli.log"));
  ASSERT_TRUE(WaitFor([&] { return hub_.bytes_sent() > 0; }))
      << ReadFileBytes(env_.Path("cli.log"));
  const std::string socket = env_.Path("run/agent.sock");
  BackgroundProcess agent({InstalledBinary("pool-agent"), "--listen", "unix:" + socket}, Options(),
                          env_.Path("agent.log"));
  ASSERT_TRUE(WaitFor([&] { return UnixSocketAccepts(socket); }))
      << ReadFileBytes(env_.Path("agent.log"));

  auto models = pool::v1::ModelService::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  pool::v1::DownloadModelRequest request;
  request.add_ids("tiny");
  auto stream = models->DownloadModel(&context, request);
  pool::v1::OperationEvent event;
  while (stream->Read(&event) && !event.has_waiting_for()) {
  }
  ASSERT_TRUE(event.has_waiting_for()) << event.DebugString();
  EXPECT_EQ(event.state(), pool::v1::OPERATION_STATE_PENDING);
  EXPECT_EQ(event.waiting_for().pid(), cli.pid());
  EXPECT_EQ(event.waiting_for().operation_id(), "");  // not an operation of this agent
  EXPECT_THAT(
      event.waiting_for().description(),
      ::testing::StartsWith(absl::StrCat("process ", cli.pid(), " (llorch-pool), operation op-")));
  EXPECT_THAT(event.waiting_for().description(), HasSubstr("(model.download)"));

  EXPECT_EQ(cli.Stop(SIGINT), 130);
  pool::v1::OperationEvent last;
  bool ran = false;
  while (stream->Read(&event)) {
    ran = ran || event.state() == pool::v1::OPERATION_STATE_RUNNING;
    last = event;
  }
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_TRUE(ran);
  EXPECT_EQ(last.state(), pool::v1::OPERATION_STATE_SUCCEEDED) << last.error().message();
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
}

// The Hub announces the file by its git blob id (as it does files outside LFS), and its CDN
// sends other bytes: nothing is installed and nothing says ok; with the right bytes the file is
// installed, verified by the git blob id, and says so.
TEST_F(DownloadE2eTest, AGitBlobIdFromTheHubIsRequiredOfTheBytes) {
  hub_.SetFaults({.corrupt_offset = kSize / 2, .sha1_etags = true});
  CommandResult corrupt = env_.Run({"models", "download", "tiny"});
  EXPECT_EQ(corrupt.exit_code, 1);
  EXPECT_THAT(corrupt.err, HasSubstr("error: git blob id mismatch for " + std::string(kFile)));
  EXPECT_THAT(corrupt.err, HasSubstr("nothing was installed"));
  EXPECT_FALSE(std::filesystem::exists(ModelPath()));
  CommandResult verify = env_.Run({"models", "verify", "tiny"});
  EXPECT_NE(verify.exit_code, 0);
  EXPECT_THAT(verify.out, ::testing::Not(HasSubstr("1 of 1 models verified")));

  hub_.SetFaults({.sha1_etags = true});
  CommandResult good = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(good.exit_code, 0) << good.err;
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_THAT(good.out, HasSubstr("Hub git blob id"));
  EXPECT_THAT(good.err, HasSubstr("git blob id matches the Hub's"));
  const nlohmann::json manifest = nlohmann::json::parse(
      ReadFileBytes(env_.models_dir() + "/tiny/.llorch/" + std::string(kFile) + ".manifest.json"));
  EXPECT_EQ(manifest["verified_by"], "git-sha1");
  EXPECT_EQ(manifest["sha256"], Sha256Of(content_));
  CommandResult info = env_.Run({"models", "info", "tiny"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, ::testing::ContainsRegex("verified by +Hub git blob id"));
  EXPECT_EQ(env_.Run({"models", "verify", "tiny"}).exit_code, 0);
}

// With the hf backend, a forced download that the CLI cannot make (access revoked) leaves the
// model that was there verified: its manifest goes only when another file takes its place.
TEST_F(DownloadE2eTest, AForcedHfDownloadThatFailsLeavesTheModelVerified) {
  const std::string hf_hub = env_.Path("hf-hub");
  WriteFileBytes(absl::StrCat(hf_hub, "/", kRepo, "/", kFile), content_);
  std::filesystem::create_directories(env_.Path("config/llorch"));
  WriteFileBytes(env_.Path("config/llorch/pool.toml"),
                 absl::StrCat("[download]\nbackend = \"hf\"\nhf_command = \"", FAKE_HF, "\"\n"));
  env_.env()["FAKE_HF_HUB"] = hf_hub;
  CommandResult first = env_.Run({"models", "download", "tiny"});
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_EQ(hub_.bytes_sent(), 0u);  // the CLI fetched it, not the agent's own client

  WriteFileBytes(absl::StrCat(hf_hub, "/", kRepo, "/.gated"), "");
  CommandResult forced = env_.Run({"models", "download", "tiny", "--force"});
  EXPECT_EQ(forced.exit_code, 1);
  EXPECT_THAT(forced.err, HasSubstr("Access denied"));
  CommandResult list = env_.Run({"models", "list", "--output", "json"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr("DOWNLOAD_STATE_DOWNLOADED"));
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_EQ(env_.Run({"models", "verify", "tiny"}).exit_code, 0);
}

// kill -9 leaves the partial download preallocated to the file's size. On a disk with less free
// space than the bytes still missing, the next download resumes: the space is already the
// partial's.
TEST_F(DownloadE2eTest, AfterACrashOnANearlyFullDiskTheDownloadResumes) {
  std::filesystem::create_directories(env_.models_dir());
  // 10 MiB: with the 8 MiB file preallocated, 2 MiB stay free.
  SmallDisk disk(SMALL_DISK, env_.models_dir(), 10, env_.Path("small_disk.log"));
  if (!disk.mounted()) GTEST_SKIP() << ReadFileBytes(env_.Path("small_disk.log"));
  const std::vector<std::string> download =
      disk.Command({InstalledBinary("llorch-pool"), "models", "download", "tiny"});
  hub_.SetFaults({.bytes_per_second_per_connection = 2 << 20});  // 4 s for the file
  {
    BackgroundProcess cli(download, Options(), env_.Path("cli.log"));
    ASSERT_TRUE(WaitFor([&] { return SavedBytes(disk.Path(StatePath())) > 0; }))
        << ReadFileBytes(env_.Path("cli.log"));
    EXPECT_EQ(cli.Stop(SIGKILL), 128 + SIGKILL);
  }
  const std::string partial = disk.Path(env_.models_dir() + "/tiny/.llorch/" + kFile + ".partial");
  struct stat info {};
  ASSERT_EQ(stat(partial.c_str(), &info), 0);
  ASSERT_GE(static_cast<uint64_t>(info.st_blocks) * 512, kSize);     // all of it still reserved
  ASSERT_LT(SavedBytes(disk.Path(StatePath())), kSize - (2 << 20));  // more missing than free

  hub_.SetFaults({});
  CommandResult result = RunCommand(download, Options());
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, HasSubstr("resuming: "));
  EXPECT_EQ(ReadFileBytes(disk.Path(ModelPath())), content_);
}

// Credentials follow the operator, through a pool-agent.
class DaemonHubTokenE2eTest : public DownloadE2eTest {
 protected:
  static constexpr char kToken[] = "hf_operator0123456789abcdefXYZ";

  // Starts pool-agent on its own socket, with no Hub token of its own (none in its environment,
  // no `hf auth login` file in its HOME).
  void SetUp() override {
    hub_.RequireToken(kRepo, kToken);
    CommandOptions options = Options();
    options.env->erase("HF_TOKEN");
    agent_ = std::make_unique<BackgroundProcess>(
        std::vector<std::string>{InstalledBinary("pool-agent"), "--listen", "unix:" + socket()},
        options, agent_log());
    ASSERT_TRUE(WaitFor([&] {
      return ReadFileBytes(agent_log()).find("serving") != std::string::npos;
    })) << ReadFileBytes(agent_log());
  }

  std::string socket() const { return env_.Path("run/agent.sock"); }
  std::string agent_log() const { return env_.Path("agent.log"); }

  // llorch-pool ARGS... through the agent, with `env` on top of the test's environment.
  CommandResult Cli(std::vector<std::string> args,
                    const std::map<std::string, std::string>& env = {}) {
    std::vector<std::string> argv = {InstalledBinary("llorch-pool"), "--agent", "unix:" + socket()};
    argv.insert(argv.end(), args.begin(), args.end());
    CommandOptions options = Options();
    options.env->erase("HF_TOKEN");
    for (const auto& [key, value] : env) (*options.env)[key] = value;
    return RunCommand(argv, options);
  }

  std::unique_ptr<BackgroundProcess> agent_;
};

TEST_F(DaemonHubTokenE2eTest, TheClisHfTokenDownloadsAGatedModelAndTheAgentKeepsItNowhere) {
  CommandResult without = Cli({"models", "download", "tiny"});
  EXPECT_NE(without.exit_code, 0);
  EXPECT_THAT(without.err, HasSubstr("the Hub refused access to owner/Tiny-GGUF"));
  EXPECT_THAT(without.err, HasSubstr("where you run llorch-pool"));

  CommandResult with = Cli({"models", "download", "tiny"}, {{"HF_TOKEN", kToken}});
  ASSERT_EQ(with.exit_code, 0) << with.err;
  EXPECT_EQ(ReadFileBytes(ModelPath()), content_);
  EXPECT_THAT(with.err, Not(HasSubstr("warning:")));

  // The token hf keeps after `hf auth login` goes along as well (HF_TOKEN unset), from the
  // operator's home (the agent runs with another).
  std::filesystem::create_directories(env_.Path("operator/.cache/huggingface"));
  WriteFileBytes(env_.Path("operator/.cache/huggingface/token"), std::string(kToken) + "\n");
  CommandResult from_file =
      Cli({"models", "download", "tiny", "--force"}, {{"HOME", env_.Path("operator")}});
  ASSERT_EQ(from_file.exit_code, 0) << from_file.err;

  // Nothing of it where the agent keeps things or says them: its state (the operation history),
  // the models directory, its log, what `ops list` and `ops get` show.
  for (const std::string& dir : {env_.Path("state"), env_.models_dir()}) {
    for (const auto& [path, content] : SnapshotTree(dir)) {
      EXPECT_THAT(content, Not(HasSubstr(kToken))) << path;
    }
  }
  EXPECT_FALSE(SnapshotTree(env_.Path("state/llorch/pool/operations")).empty());
  EXPECT_THAT(ReadFileBytes(agent_log()), Not(HasSubstr(kToken)));
  CommandResult listed = Cli({"ops", "list", "-o", "json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_THAT(listed.out, Not(HasSubstr(kToken)));
  const nlohmann::json operations = nlohmann::json::parse(listed.out)["operations"];
  ASSERT_FALSE(operations.empty());
  for (const nlohmann::json& operation : operations) {
    CommandResult got = Cli({"ops", "get", operation["id"].get<std::string>()});
    EXPECT_EQ(got.exit_code, 0) << got.err;
    EXPECT_THAT(got.out, Not(HasSubstr(kToken)));
  }
}

// The agent's Hub is the agent's: where the CLI's HF_ENDPOINT or HF_HUB_OFFLINE say otherwise it
// warns, once, and its token (meant for its own Hub) stays here.
TEST_F(DaemonHubTokenE2eTest, TheCliWarnsWhenItsHubSettingsDifferFromTheAgents) {
  hub_.RequireToken(kRepo, "");
  CommandResult result =
      Cli({"models", "download", "tiny"},
          {{"HF_ENDPOINT", "http://127.0.0.1:9"}, {"HF_HUB_OFFLINE", "1"}, {"HF_TOKEN", kToken}});
  ASSERT_EQ(result.exit_code, 0) << result.err;  // downloaded from the agent's Hub
  const std::string agent = "agent at unix:" + socket();
  EXPECT_THAT(result.err, HasSubstr("warning: your HF_ENDPOINT is http://127.0.0.1:9, but the " +
                                    agent + " downloads from " + hub_.endpoint()));
  EXPECT_THAT(result.err, HasSubstr("warning: your HF_HUB_OFFLINE says offline, but the " + agent +
                                    " is online"));
  EXPECT_THAT(result.err, HasSubstr("warning: not passing your Hub token (HF_TOKEN) to the " +
                                    agent + ": it is for http://127.0.0.1:9"));
  EXPECT_EQ(result.err.find("HF_ENDPOINT is"), result.err.rfind("HF_ENDPOINT is"));  // once
  for (const FakeHubRequest& request : hub_.requests()) {
    EXPECT_EQ(request.authorization, "") << request.server << " " << request.path;
  }
  // The same settings as the agent's: not a word.
  CommandResult same = Cli({"models", "download", "tiny"},
                           {{"HF_ENDPOINT", hub_.endpoint() + "/"}, {"HF_HUB_OFFLINE", "0"}});
  ASSERT_EQ(same.exit_code, 0) << same.err;
  EXPECT_THAT(same.err, Not(HasSubstr("warning:")));
}

}  // namespace
}  // namespace llorch::testing
