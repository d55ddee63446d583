// The `hf` download backend against tests/support/fake_hf.cc, a stand-in with the real CLI's
// flags, on-disk layout and exit codes: what lands in the models directory, the manifest, the
// errors a user reads, progress from the growing partial file, and cancellation.
#include "agent/models/hf_backend.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "agent/models/model_download.h"
#include "agent/models/store/gguf_reader.h"
#include "agent/models/store/sha256_file.h"
#include "common/status.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/operation_events.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kCommit[] = "cccccccccccccccccccccccccccccccccccccccc";

class HfBackendTest : public ::testing::Test {
 protected:
  HfBackendTest() : store_(fs::path(temp_.path()) / "models") {
    model_.id = "tiny";
    model_.repo = "org/tiny-GGUF";
    model_.file = "tiny.Q4_K_M.gguf";
    model_.dir = "tiny";
    model_.revision = "main";
    testing::GgufBuilder gguf(3);
    gguf.AddString("general.architecture", "llama").AddTensor("token_embd.weight", {256, 512});
    payload_ = gguf.BuildWithData('\x07');
    model_.size_bytes = payload_.size();
    testing::WriteFileBytes(HubFile(), payload_);
    payload_sha256_ = *Sha256File(HubFile().string());
    options_.hf_command = FAKE_HF;
    options_.env = {{"FAKE_HF_HUB", (root() / "hub").string()},
                    {"FAKE_HF_ARGV", (root() / "argv.log").string()},
                    {"FAKE_HF_PID_FILE", (root() / "hf.pid").string()},
                    {"FAKE_HF_GATE", (root() / "gate").string()}};
    options_.poll_interval = absl::Milliseconds(5);
    options_.kill_grace = absl::Milliseconds(200);
  }

  fs::path root() const { return temp_.path(); }
  fs::path HubFile() const { return root() / "hub" / model_.repo / model_.file; }
  fs::path LocalDir() const { return store_.models_dir() / model_.dir; }

  absl::StatusOr<Manifest> Download() { return DownloadWithHfCli(store_, model_, options_, op_); }

  // Nothing of the model counts as installed.
  void ExpectNothingInstalled() {
    EXPECT_FALSE(fs::exists(store_.ModelPath(model_)));
    EXPECT_FALSE(fs::exists(store_.ManifestPath(model_)));
    EXPECT_NE(store_.Inspect(model_).state, LocalState::kDownloaded);
  }

  // Starts the download on another thread, waits until the stand-in has written half the file
  // and the backend has seen it, and returns the thread.
  std::thread StartAndWaitForHalf(absl::StatusOr<Manifest>* result) {
    std::thread worker([this, result] { *result = Download(); });
    EXPECT_TRUE(testing::WaitForProgress(op_, [&](const v1::Progress& progress) {
      return progress.phase() == "download" && progress.done() == payload_.size() / 2;
    }));
    return worker;
  }

  // True once the process recorded in hf.pid no longer exists.
  bool ChildIsGone() {
    const pid_t pid = std::stoi(testing::ReadFileBytes(root() / "hf.pid"));
    return kill(pid, 0) == -1 && errno == ESRCH;
  }

  testing::TempDir temp_;
  ModelStore store_;
  CatalogModel model_;
  std::string payload_;
  std::string payload_sha256_;
  HfCliOptions options_;
  Operation op_{"op-1", "model.download", "tiny"};
};

TEST_F(HfBackendTest, DownloadsVerifiesAndWritesTheManifest) {
  absl::StatusOr<Manifest> manifest = Download();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->repo, "org/tiny-GGUF");
  EXPECT_EQ(manifest->revision_commit, kCommit);
  EXPECT_EQ(manifest->file, model_.file);
  EXPECT_EQ(manifest->size, payload_.size());
  EXPECT_EQ(manifest->sha256, payload_sha256_);
  EXPECT_EQ(manifest->upstream_etag, payload_sha256_);
  EXPECT_EQ(manifest->verified_by, "sha256");
  EXPECT_GT(manifest->downloaded_at, 0);

  EXPECT_EQ(testing::ReadFileBytes(store_.ModelPath(model_)), payload_);
  std::optional<Manifest> stored = store_.ReadManifest(model_);
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(stored->sha256, payload_sha256_);
  EXPECT_EQ(stored->revision_commit, kCommit);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);

  // The spec's command line, by argv, with absolute paths.
  EXPECT_EQ(testing::ReadFileBytes(root() / "argv.log"),
            absl::StrCat(FAKE_HF, " download org/tiny-GGUF ", model_.file, " --local-dir ",
                         LocalDir().string(), "\n"));
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_STDOUT),
              Contains(store_.ModelPath(model_).string()));
  std::vector<v1::Progress> download = testing::ProgressOf(op_, "download");
  ASSERT_FALSE(download.empty());
  EXPECT_EQ(download.back().done(), payload_.size());
  EXPECT_EQ(download.back().total(), payload_.size());
  std::vector<v1::Progress> hash = testing::ProgressOf(op_, "hash");
  ASSERT_FALSE(hash.empty());
  EXPECT_EQ(hash.back().done(), payload_.size());
}

TEST_F(HfBackendTest, PassesAPinnedRevision) {
  model_.revision = kCommit;
  ASSERT_TRUE(Download().ok());
  EXPECT_THAT(testing::ReadFileBytes(root() / "argv.log"),
              HasSubstr(absl::StrCat(" --revision ", kCommit)));
}

TEST_F(HfBackendTest, FindsHfInPath) {
  const fs::path bin = root() / "bin";
  fs::create_directories(bin);
  fs::create_symlink(FAKE_HF, bin / "hf");
  options_.hf_command = "hf";
  options_.env["PATH"] = bin.string();
  absl::StatusOr<Manifest> manifest = Download();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
}

TEST_F(HfBackendTest, MissingHfSaysHowToInstallIt) {
  const fs::path empty = root() / "empty-bin";
  fs::create_directories(empty);
  options_.hf_command = "hf";
  options_.env["PATH"] = empty.string();
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat("`hf` was not found in PATH (", empty.string(), ")"));
  const std::string hint = GetHint(manifest.status()).value_or("");
  EXPECT_THAT(hint, HasSubstr("pipx install 'huggingface_hub[cli]'"));
  EXPECT_THAT(hint, HasSubstr("pip install -U \"huggingface_hub[cli]\""));
  EXPECT_THAT(hint, HasSubstr("download.hf_command"));
  EXPECT_THAT(hint, Not(HasSubstr("huggingface-cli")));
  EXPECT_EQ(GetReason(manifest.status()), "HF_CLI_MISSING");

  options_.hf_command = (root() / "no" / "hf").string();
  manifest = Download();
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat(options_.hf_command, " (download.hf_command) is not an executable file"));
  EXPECT_FALSE(fs::exists(LocalDir()));
}

TEST_F(HfBackendTest, AFailingRunReportsTheCliErrorAndInstallsNothing) {
  options_.env["FAKE_HF_MODE"] = "fail";
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat("hf download org/tiny-GGUF ", model_.file,
                         " (revision main) failed (exit 1): 500 Server Error: Internal Server "
                         "Error for url: https://huggingface.co/org/tiny-GGUF/resolve/main/",
                         model_.file));
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_STDERR),
              Contains(HasSubstr("Error: 500 Server Error")));
  ExpectNothingInstalled();
}

TEST_F(HfBackendTest, AMissingRepoOrFileIsNotFoundNamingRepoFileAndRevision) {
  model_.repo = "org/missing";
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(manifest.status().message(),
              HasSubstr(absl::StrCat("hf download org/missing ", model_.file,
                                     " (revision main) failed (exit 1): Repository not found")));
  EXPECT_EQ(GetReason(manifest.status()), "HUB_NOT_FOUND");
  EXPECT_THAT(GetHint(manifest.status()).value_or(""),
              HasSubstr("https://huggingface.co/org/missing"));

  model_.repo = "org/tiny-GGUF";
  model_.file = "tiny.f16.gguf";
  manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(manifest.status().message(), HasSubstr("File not found in repository."));
}

TEST_F(HfBackendTest, AGatedRepoIsPermissionDeniedWithTheLoginHint) {
  testing::WriteFileBytes(root() / "hub" / model_.repo / ".gated", "");
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(manifest.status().message(),
              HasSubstr("failed (exit 1): Access denied. This repository requires approval."));
  EXPECT_THAT(GetHint(manifest.status()).value_or(""), HasSubstr("hf auth login"));
  ExpectNothingInstalled();
}

TEST_F(HfBackendTest, ACliThatRejectsTheCommandLineIsToldToUpgrade) {
  options_.env["FAKE_HF_MODE"] = "no-local-dir";
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(manifest.status().message(),
              HasSubstr("failed (exit 2): No such option: --local-dir"));
  EXPECT_THAT(GetHint(manifest.status()).value_or(""),
              HasSubstr("pip install -U \"huggingface_hub[cli]\""));
  ExpectNothingInstalled();
}

TEST_F(HfBackendTest, OfflineUsesWhatIsOnDiskAndOtherwiseSaysItIsOffline) {
  options_.env["HF_HUB_OFFLINE"] = "1";
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(manifest.status().message(),
            absl::StrCat("hf download org/tiny-GGUF ", model_.file,
                         " (revision main): offline (HF_HUB_OFFLINE is set) and the file is not "
                         "on disk"));
  EXPECT_THAT(GetHint(manifest.status()).value_or(""), HasSubstr("unset HF_HUB_OFFLINE"));

  options_.env.erase("HF_HUB_OFFLINE");
  ASSERT_TRUE(Download().ok());
  options_.env["HF_HUB_OFFLINE"] = "1";
  manifest = Download();  // checked again against the etag the CLI recorded
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->sha256, payload_sha256_);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
}

TEST_F(HfBackendTest, WrongBytesInstallNothingAndNameBothHashes) {
  options_.env["FAKE_HF_MODE"] = "corrupt";
  std::string corrupt = payload_;
  corrupt[corrupt.size() / 2] ^= 0x01;
  testing::WriteFileBytes(root() / "corrupt", corrupt);
  const std::string corrupt_sha256 = *Sha256File((root() / "corrupt").string());

  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      manifest.status().message(),
      absl::StrCat("SHA-256 mismatch for ", model_.file, ": the downloaded bytes hash to ",
                   corrupt_sha256, ", the Hub says ", payload_sha256_, "; nothing was installed"));
  EXPECT_EQ(GetReason(manifest.status()), "HASH_MISMATCH");
  ExpectNothingInstalled();
  // The CLI's own record is gone too, so its next run fetches the file again.
  EXPECT_FALSE(fs::exists(HfDownloadDir(LocalDir()) / (model_.file + ".metadata")));
}

// A file kept in git, not LFS: the Hub's etag (which the CLI records) is its git blob id, and
// that is what the bytes must match; the CLI's own check of the size would let anything through.
TEST_F(HfBackendTest, AGitBlobIdEtagIsCheckedAgainstTheBytes) {
  options_.env["FAKE_HF_ETAG"] = "git";
  options_.env["FAKE_HF_MODE"] = "corrupt";
  absl::StatusOr<Manifest> corrupt = Download();
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(corrupt.status().message(), HasSubstr("git blob id mismatch for " + model_.file));
  ExpectNothingInstalled();

  options_.env.erase("FAKE_HF_MODE");
  absl::StatusOr<Manifest> manifest = Download();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->verified_by, "git-sha1");
  EXPECT_EQ(manifest->sha256, payload_sha256_);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
}

// An etag that is no digest vouches for nothing: the file stays, without a manifest.
TEST_F(HfBackendTest, AnEtagThatIsNoDigestLeavesTheFileUnverified) {
  options_.env["FAKE_HF_ETAG"] = "abc-123";
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetReason(manifest.status()), "HUB_NO_DIGEST");
  EXPECT_FALSE(fs::exists(store_.ManifestPath(model_)));
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kUnverified);
}

TEST_F(HfBackendTest, AFileThatIsNotGgufIsRefused) {
  testing::WriteFileBytes(HubFile(), "<html>not a model</html>");
  model_.size_bytes = 24;
  absl::StatusOr<Manifest> manifest = Download();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(manifest.status().message(), HasSubstr("not a valid GGUF model"));
  ExpectNothingInstalled();
}

TEST_F(HfBackendTest, AdoptsAFileAlreadyThereWithoutFetchingIt) {
  testing::WriteFileBytes(store_.ModelPath(model_), payload_);  // as the bash scripts left it
  options_.env["FAKE_HF_MODE"] = "fail";                        // any fetch would fail
  absl::StatusOr<Manifest> manifest = Download();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->sha256, payload_sha256_);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
}

TEST_F(HfBackendTest, ProgressFollowsTheGrowingPartialFile) {
  options_.env["FAKE_HF_MODE"] = "gate";
  absl::StatusOr<Manifest> manifest;
  std::thread worker = StartAndWaitForHalf(&manifest);
  // The stand-in is stopped at half the file: the partial file is where the CLI keeps it.
  EXPECT_EQ(fs::file_size(HfDownloadDir(LocalDir()) /
                          absl::StrCat(model_.file, ".", payload_sha256_, ".incomplete")),
            payload_.size() / 2);
  testing::WriteFileBytes(root() / "gate", "");
  worker.join();
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
}

TEST_F(HfBackendTest, CancelStopsTheCli) {
  options_.env["FAKE_HF_MODE"] = "gate";
  absl::StatusOr<Manifest> manifest;
  std::thread worker = StartAndWaitForHalf(&manifest);
  op_.RequestCancel();
  worker.join();  // never returns if the child is not stopped: the gate stays shut
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(manifest.status().message(), "download of tiny cancelled");
  EXPECT_TRUE(ChildIsGone());
  ExpectNothingInstalled();
}

TEST_F(HfBackendTest, CancelKillsACliThatIgnoresSigterm) {
  options_.env["FAKE_HF_MODE"] = "ignore-term";
  absl::StatusOr<Manifest> manifest;
  std::thread worker = StartAndWaitForHalf(&manifest);
  op_.RequestCancel();
  worker.join();
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(ChildIsGone());
  ExpectNothingInstalled();
}

// The CLI writes by path, so the directories it writes into are checked before it runs.
TEST_F(HfBackendTest, ASymlinkInTheCliDirectoriesIsRefusedBeforeTheCliRuns) {
  const fs::path outside = root() / "outside";
  fs::create_directories(outside);
  fs::create_directories(LocalDir());
  fs::create_directory_symlink(outside, LocalDir() / ".cache");
  absl::StatusOr<Manifest> manifest = Download();
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(GetReason(manifest.status()), "SYMLINK_REFUSED");
  EXPECT_THAT(manifest.status().message(),
              HasSubstr(".cache is a symlink (to " + outside.string() + ")"));
  EXPECT_FALSE(fs::exists(root() / "argv.log"));  // the CLI never ran
  EXPECT_TRUE(fs::is_empty(outside));
}

// An old CLI leaves the file in its cache and a link to it in the model directory: the link
// is refused and removed, never installed or hashed through.
TEST_F(HfBackendTest, ALinkTheCliLeavesInsteadOfTheFileIsRemovedAndNothingIsInstalled) {
  options_.env["FAKE_HF_MODE"] = "symlink";
  absl::StatusOr<Manifest> manifest = Download();
  ASSERT_FALSE(manifest.ok());
  EXPECT_EQ(manifest.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(manifest.status().message(),
              HasSubstr("hf download left no regular file: " + store_.ModelPath(model_).string() +
                        " is a symlink (to "));
  EXPECT_THAT(GetHint(manifest.status()).value_or(""), HasSubstr("upgrade the CLI"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(store_.ModelPath(model_))));
  EXPECT_EQ(testing::ReadFileBytes(root() / "hub" / ".blobs" / payload_sha256_), payload_);
  ExpectNothingInstalled();
}

TEST(HfDownloadMetadataTest, ReadsCommitAndEtagAndRejectsAnIncompleteRecord) {
  testing::TempDir temp;
  const DirFd dir = DirFd::OpenRoot(temp.path(), false).value();
  EXPECT_FALSE(ReadHfDownloadMetadata(dir, "m.gguf").has_value());
  testing::WriteFileBytes(dir.PathOf("m.gguf.metadata").string(), "abc123\nfeed\n1712656091.123\n");
  std::optional<HfDownloadMetadata> metadata = ReadHfDownloadMetadata(dir, "m.gguf");
  ASSERT_TRUE(metadata.has_value());
  EXPECT_EQ(metadata->commit, "abc123");
  EXPECT_EQ(metadata->etag, "feed");
  testing::WriteFileBytes(dir.PathOf("m.gguf.metadata").string(), "abc123\n");
  EXPECT_FALSE(ReadHfDownloadMetadata(dir, "m.gguf").has_value());
}

TEST_F(HfBackendTest, IsWhatModelsDownloadRunsWhenConfigured) {
  DownloadSettings settings;
  settings.backend = "hf";
  settings.hf = options_;
  settings.hub.endpoint = "http://127.0.0.1:1";  // the native client must not be asked
  absl::StatusOr<v1::DownloadedModel> downloaded =
      DownloadCatalogModel(store_, model_, /*force=*/false, settings, op_);
  ASSERT_TRUE(downloaded.ok()) << downloaded.status();
  EXPECT_EQ(downloaded->manifest().sha256(), payload_sha256_);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
  EXPECT_THAT(testing::ReadFileBytes(root() / "argv.log"), HasSubstr("download org/tiny-GGUF"));

  Operation again("op-2", "model.download", "tiny");
  absl::StatusOr<v1::DownloadedModel> present =
      DownloadCatalogModel(store_, model_, /*force=*/false, settings, again);
  ASSERT_TRUE(present.ok()) << present.status();
  EXPECT_TRUE(present->already_present());
}

}  // namespace
}  // namespace llorch
