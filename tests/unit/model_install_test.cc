// ModelStore::Install, the one way a model file gets into place, as its contract promises: bytes
// checked against the Hub's digest (SHA-256 or git blob id) and the GGUF header before anything
// changes; refused bytes leave the old file and manifest as they were; a process killed after any
// step leaves the old model or the new one verified, never a file with another's manifest;
// symlinks in the way refused.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "agent/models/store/model_store.h"
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

constexpr uint64_t kSize = 64 << 10;

std::string GitBlobIdOf(const std::string& content) {
  GitBlobDigest digest(content.size());
  digest.Update(content.data(), content.size());
  return digest.HexDigest();
}

// The Hub's file is `content`: its etag is its SHA-256.
InstallSource FromHub(const std::string& content) { return {"c0ffee", Sha256Of(content)}; }

class ModelInstallTest : public ::testing::Test {
 protected:
  ModelInstallTest() {
    model_.id = "tiny";
    model_.repo = "org/tiny-GGUF";
    model_.dir = "tiny";
    model_.file = "tiny.gguf";
  }

  fs::path root() const { return temp_.path(); }
  fs::path ModelPath() const { return store_.ModelPath(model_); }
  fs::path StagedPath() const { return store_.ManifestPath(model_).parent_path() / "staged"; }
  fs::path SwitchPath() const {
    return store_.ManifestPath(model_).parent_path() / ModelStore::SwitchName(model_);
  }

  // Writes `content` as the staged file in the model's metadata directory.
  void Stage(const std::string& content) {
    fs::create_directories(StagedPath().parent_path());
    testing::WriteFileBytes(StagedPath().string(), content);
  }

  // Installs the staged file from `source`; hashed by Install unless `hashes` says what its
  // bytes hashed to when written.
  absl::StatusOr<Manifest> InstallStaged(const InstallSource& source,
                                         std::optional<FileHashes> hashes = std::nullopt,
                                         const std::string& made_by = "the download of tiny") {
    absl::StatusOr<DirFd> dir = store_.OpenDir(model_, ModelStore::kMetadataDir, false);
    if (!dir.ok()) return dir.status();
    return store_.Install(model_, StagedFile{&*dir, "staged", made_by, hashes}, source, op_);
  }

  // The old model: installed, verified.
  void InstallOld() {
    Stage(old_);
    absl::StatusOr<Manifest> installed = InstallStaged(FromHub(old_));
    ASSERT_TRUE(installed.ok()) << installed.status();
  }

  // The model is verified, by a manifest whose SHA-256 is that of the file in place, `content`.
  void ExpectVerified(const std::string& content) {
    EXPECT_EQ(store_.Inspect(model_).state, LocalState::kDownloaded);
    std::optional<Manifest> manifest = store_.ReadManifest(model_);
    ASSERT_TRUE(manifest.has_value());
    EXPECT_EQ(manifest->sha256, Sha256Of(content));
    EXPECT_EQ(testing::ReadFileBytes(ModelPath().string()), content);
  }

  testing::TempDir temp_;
  ModelStore store_{fs::path(temp_.path()) / "models"};
  CatalogModel model_;
  Operation op_{"op-1", "model.download", "tiny"};
  // The same size, other bytes: what only a manifest's hash, not its size, tells apart.
  const std::string old_ = testing::GgufFileOfSize(kSize, 1);
  const std::string new_ = testing::GgufFileOfSize(kSize, 2);
};

TEST_F(ModelInstallTest, InstallsTheStagedFileWithItsManifest) {
  Stage(new_);
  absl::StatusOr<Manifest> manifest = InstallStaged(FromHub(new_));
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->repo, "org/tiny-GGUF");
  EXPECT_EQ(manifest->revision_commit, "c0ffee");
  EXPECT_EQ(manifest->file, "tiny.gguf");
  EXPECT_EQ(manifest->size, kSize);
  EXPECT_EQ(manifest->sha256, Sha256Of(new_));
  EXPECT_EQ(manifest->upstream_etag, Sha256Of(new_));
  EXPECT_EQ(manifest->verified_by, "sha256");
  EXPECT_GT(manifest->downloaded_at, 0);
  ExpectVerified(new_);
  EXPECT_FALSE(fs::exists(StagedPath()));
  EXPECT_FALSE(fs::exists(SwitchPath()));
  EXPECT_EQ(testing::ProgressOf(op_, "hash").back().done(), kSize);
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_AGENT),
              Contains(HasSubstr("installed " + ModelPath().string() + " (")));
}

// A download hashed the bytes as they came: those hashes are what is checked, not read again.
TEST_F(ModelInstallTest, HashesComputedWhileWritingAreCheckedWithoutReadingTheFileAgain) {
  Stage(new_);
  ASSERT_TRUE(InstallStaged(FromHub(new_), FileHashes{Sha256Of(new_), ""}).ok());
  ExpectVerified(new_);
  EXPECT_TRUE(testing::ProgressOf(op_, "hash").empty());
}

TEST_F(ModelInstallTest, BytesThatAreNotTheHubsAreRefusedAndNothingInPlaceChanges) {
  InstallOld();
  const std::string manifest_before = testing::ReadFileBytes(store_.ManifestPath(model_).string());
  Stage(new_);
  absl::StatusOr<Manifest> refused = InstallStaged(FromHub("other bytes"));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(GetReason(refused.status()), "HASH_MISMATCH");
  EXPECT_EQ(
      refused.status().message(),
      absl::StrCat("SHA-256 mismatch for tiny.gguf: the downloaded bytes hash to ", Sha256Of(new_),
                   ", the Hub says ", Sha256Of("other bytes"), "; nothing was installed"));
  ExpectVerified(old_);
  EXPECT_EQ(testing::ReadFileBytes(store_.ManifestPath(model_).string()), manifest_before);
  EXPECT_FALSE(fs::exists(SwitchPath()));
  EXPECT_EQ(testing::ReadFileBytes(StagedPath().string()), new_);  // the caller's to discard

  // Hashes a writer computed are held to the same digest.
  refused = InstallStaged(FromHub(new_), FileHashes{Sha256Of("other bytes"), ""});
  EXPECT_EQ(GetReason(refused.status()), "HASH_MISMATCH");
  ExpectVerified(old_);
}

// A file outside LFS: the Hub's etag is its git blob id, and that is what the bytes must match.
TEST_F(ModelInstallTest, AGitBlobIdEtagIsRequiredOfTheBytes) {
  Stage(new_);
  absl::StatusOr<Manifest> refused = InstallStaged({"c0ffee", GitBlobIdOf(old_)});
  EXPECT_EQ(GetReason(refused.status()), "HASH_MISMATCH");
  EXPECT_THAT(refused.status().message(), HasSubstr("git blob id mismatch for tiny.gguf"));
  EXPECT_FALSE(fs::exists(ModelPath()));

  absl::StatusOr<Manifest> manifest = InstallStaged({"c0ffee", GitBlobIdOf(new_)});
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->verified_by, "git-sha1");
  EXPECT_EQ(manifest->sha256, Sha256Of(new_));  // ours, for later verifies
  ExpectVerified(new_);
}

TEST_F(ModelInstallTest, AnEtagThatIsNoDigestIsRefusedBeforeAnythingIsRead) {
  InstallOld();
  Stage(new_);
  absl::StatusOr<Manifest> refused = InstallStaged({"c0ffee", "abc-123"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetReason(refused.status()), "HUB_NO_DIGEST");
  const std::vector<std::string> log = testing::LogTexts(op_, v1::LogLine::STREAM_AGENT);
  EXPECT_EQ(
      std::count_if(log.begin(), log.end(),  // the old model's hash only
                    [](const std::string& line) { return absl::StartsWith(line, "computing"); }),
      1);
  ExpectVerified(old_);
}

TEST_F(ModelInstallTest, AFileThatIsNotGgufIsRefusedNamingWhatMadeIt) {
  InstallOld();
  Stage("GGML and then nothing useful");
  absl::StatusOr<Manifest> refused =
      InstallStaged({"c0ffee", "", /*converted=*/true}, std::nullopt, "converter x");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(refused.status().message(),
              HasSubstr("converter x produced a file that is not a valid GGUF model: " +
                        StagedPath().string() + ": not a GGUF file"));
  ExpectVerified(old_);
}

// A converted file exists only here: its own SHA-256 is recorded, no upstream digest.
TEST_F(ModelInstallTest, AConvertedFileIsRecordedByTheHashComputedHere) {
  InstallOld();
  Stage(new_);
  absl::StatusOr<Manifest> manifest =
      InstallStaged({"5ource", "ignored", /*converted=*/true}, std::nullopt, "converter x");
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  EXPECT_EQ(manifest->revision_commit, "5ource");
  EXPECT_EQ(manifest->upstream_etag, "");
  EXPECT_EQ(manifest->verified_by, "");
  ExpectVerified(new_);
}

// What the hf CLI left, or what the bash scripts did: verified where it is, nothing moved.
TEST_F(ModelInstallTest, AFileInPlaceGetsItsManifest) {
  testing::WriteFileBytes(ModelPath().string(), new_);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kUnverified);
  absl::StatusOr<Manifest> manifest =
      store_.Install(model_, StagedFile::InPlace("the file on disk"), FromHub(new_), op_);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ExpectVerified(new_);
  EXPECT_THAT(testing::LogTexts(op_, v1::LogLine::STREAM_AGENT),
              Contains(HasSubstr("verified " + ModelPath().string() + " (")));

  testing::WriteFileBytes(ModelPath().string(), old_);
  store_.RemoveManifest(model_).IgnoreError();
  absl::StatusOr<Manifest> refused =
      store_.Install(model_, StagedFile::InPlace("the file on disk"), FromHub(new_), op_);
  EXPECT_EQ(GetReason(refused.status()), "HASH_MISMATCH");
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kUnverified);
}

// Install in a child process that is killed (SIGKILL) right after the step named `step`.
void InstallAndDieAfter(const ModelStore& store, const CatalogModel& model, const fs::path& staged,
                        const std::string& content, const std::string& step) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ModelStore dying = store;
    dying.SetInstallStepHookForTesting([&step](absl::string_view done) {
      if (done == step) raise(SIGKILL);
    });
    Operation op("op-2", "model.download", model.id);
    absl::StatusOr<DirFd> dir = DirFd::OpenRoot(staged.parent_path(), false);
    if (dir.ok()) {
      dying
          .Install(model, StagedFile{&*dir, staged.filename().string(), "test", std::nullopt},
                   FromHub(content), op)
          .IgnoreError();
    }
    _exit(0);  // the step never came
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "step " << step;
}

TEST_F(ModelInstallTest, AKillAfterAnyStepLeavesTheOldOrTheNewModelVerified) {
  struct Case {
    std::string step;
    bool new_in_place;
  };
  for (const Case& kill : std::vector<Case>{{"switch", false},
                                            {"withdraw", false},
                                            {"rename", true},
                                            {"manifest", true},
                                            {"cleanup", true}}) {
    SCOPED_TRACE(kill.step);
    InstallOld();  // over what the round before left
    ExpectVerified(old_);
    EXPECT_FALSE(fs::exists(SwitchPath()));
    Stage(new_);
    InstallAndDieAfter(store_, model_, StagedPath(), new_, kill.step);
    ExpectVerified(kill.new_in_place ? new_ : old_);
    if (!kill.new_in_place) {  // the staged file is still there: the next install finishes
      ASSERT_TRUE(InstallStaged(FromHub(new_)).ok());
      ExpectVerified(new_);
      EXPECT_FALSE(fs::exists(SwitchPath()));
    }
  }
}

// The first install of a model, killed after the rename: the new file is in place before its
// manifest is, and verified by the switch record.
TEST_F(ModelInstallTest, AKillOfAFirstInstallLeavesNothingOrTheNewModelVerified) {
  Stage(new_);
  InstallAndDieAfter(store_, model_, StagedPath(), new_, "withdraw");
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kNotDownloaded);
  InstallAndDieAfter(store_, model_, StagedPath(), new_, "rename");
  ExpectVerified(new_);
}

// A switch record binds a manifest to one file (inode, size, modification time): other bytes
// written there afterwards, even of the same size, are not vouched for.
TEST_F(ModelInstallTest, ASwitchRecordVouchesOnlyForTheFileItNames) {
  InstallOld();
  Stage(new_);
  InstallAndDieAfter(store_, model_, StagedPath(), new_, "rename");
  ASSERT_TRUE(fs::exists(SwitchPath()));
  ExpectVerified(new_);

  const fs::file_time_type written = fs::last_write_time(ModelPath());
  {
    std::fstream file(ModelPath(), std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(kSize / 2);
    file.put('\x55');
  }
  // Any write moves the time; set here, so that the clock's granularity does not matter.
  fs::last_write_time(ModelPath(), written + std::chrono::seconds(1));
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kUnverified);
  EXPECT_FALSE(store_.ReadManifest(model_).has_value());
}

TEST_F(ModelInstallTest, WithdrawingTheManifestKeepsTheFileInPlaceVerifiedUntilItIsReplaced) {
  InstallOld();
  ASSERT_TRUE(store_.WithdrawManifest(model_).ok());
  EXPECT_FALSE(fs::exists(store_.ManifestPath(model_)));
  ExpectVerified(old_);

  fs::remove(ModelPath());  // as the hf CLI does with an outdated file
  testing::WriteFileBytes(ModelPath().string(), new_);
  EXPECT_EQ(store_.Inspect(model_).state, LocalState::kUnverified);
  ASSERT_TRUE(store_.Install(model_, StagedFile::InPlace("hf download"), FromHub(new_), op_).ok());
  ExpectVerified(new_);
  EXPECT_FALSE(fs::exists(SwitchPath()));
}

TEST_F(ModelInstallTest, SymlinksInTheWayAreRefusedAndNothingBehindThemIsTouched) {
  const fs::path outside = root() / "outside";
  fs::create_directories(outside);
  testing::WriteFileBytes((outside / "target").string(), "not to be touched");

  // The model file itself is a link.
  Stage(new_);
  fs::create_symlink(outside / "target", ModelPath());
  absl::StatusOr<Manifest> refused = InstallStaged(FromHub(new_));
  EXPECT_EQ(GetReason(refused.status()), "SYMLINK_REFUSED");
  EXPECT_TRUE(fs::is_symlink(ModelPath()));
  EXPECT_EQ(testing::ReadFileBytes((outside / "target").string()), "not to be touched");
  EXPECT_TRUE(fs::exists(StagedPath()));
  fs::remove(ModelPath());

  // The staged file is a link.
  fs::remove(StagedPath());
  fs::create_symlink(outside / "target", StagedPath());
  refused = InstallStaged(FromHub(new_));
  EXPECT_EQ(GetReason(refused.status()), "SYMLINK_REFUSED");
  EXPECT_FALSE(fs::exists(fs::symlink_status(ModelPath())));
  fs::remove(StagedPath());

  // The metadata directory is a link: the staged file is elsewhere, nothing gets there.
  fs::remove_all(StagedPath().parent_path());
  fs::create_directory_symlink(outside, StagedPath().parent_path());
  const fs::path staging = root() / "models" / "staging";
  fs::create_directories(staging);
  testing::WriteFileBytes((staging / "staged").string(), new_);
  absl::StatusOr<DirFd> dir = DirFd::OpenRoot(staging, false);
  ASSERT_TRUE(dir.ok());
  refused =
      store_.Install(model_, StagedFile{&*dir, "staged", "test", std::nullopt}, FromHub(new_), op_);
  EXPECT_EQ(GetReason(refused.status()), "SYMLINK_REFUSED");
  EXPECT_FALSE(fs::exists(fs::symlink_status(ModelPath())));
  EXPECT_EQ(std::distance(fs::directory_iterator(outside), fs::directory_iterator()), 1);
  fs::remove(StagedPath().parent_path());

  // The model directory is a link.
  fs::remove_all(root() / "models" / "tiny");
  fs::create_directory_symlink(outside, root() / "models" / "tiny");
  refused =
      store_.Install(model_, StagedFile{&*dir, "staged", "test", std::nullopt}, FromHub(new_), op_);
  EXPECT_EQ(GetReason(refused.status()), "SYMLINK_REFUSED");
  EXPECT_EQ(std::distance(fs::directory_iterator(outside), fs::directory_iterator()), 1);
  EXPECT_TRUE(fs::exists(staging / "staged"));
}

}  // namespace
}  // namespace llorch
