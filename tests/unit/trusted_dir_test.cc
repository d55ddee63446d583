// Tests for common/trusted_dir.h on real directories in a fresh temp dir. Directories of other
// users are made with chown, which needs root: those tests are skipped without it.
#include "common/trusted_dir.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "common/status.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

mode_t ModeOf(const std::string& path) {
  struct stat info {};
  return lstat(path.c_str(), &info) == 0 ? info.st_mode & 07777 : 0;
}

class TrustedDirTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return temp_.path() + "/" + name; }
  // A directory of ours with exactly `mode`.
  std::string MakeDir(const std::string& name, mode_t mode) const {
    fs::create_directories(Path(name));
    EXPECT_EQ(chmod(Path(name).c_str(), mode), 0);
    return Path(name);
  }

  const uid_t uid_ = geteuid();
  testing::TempDir temp_;
};

TEST_F(TrustedDirTest, CreatesMissingDirectoriesWithExactlyTheModeWhateverTheUmask) {
  for (mode_t mask : {0000, 0077}) {
    const mode_t old_mask = umask(mask);
    const std::string dir = Path("m" + std::to_string(mask) + "/a/b");
    absl::Status status = EnsureTrustedDirectory(dir, 0750, uid_);
    umask(old_mask);
    ASSERT_TRUE(status.ok()) << status;
    EXPECT_EQ(ModeOf(dir), 0750u);
    EXPECT_EQ(ModeOf(fs::path(dir).parent_path()), 0750u);
  }
}

TEST_F(TrustedDirTest, AnOwnDirectoryOthersMayWriteIsRefusedAndLeftAsItIs) {
  const std::string dir = MakeDir("shared", 0775);
  absl::Status status = EnsureTrustedDirectory(dir, 0700, uid_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "directory " + dir + " can be written by its group (mode 0775)");
  EXPECT_EQ(GetHint(status).value_or(""), "only you may write to it: chmod go-w " + dir);
  EXPECT_EQ(ModeOf(dir), 0775u);
  ASSERT_EQ(chmod(dir.c_str(), 0755), 0);
  EXPECT_TRUE(EnsureTrustedDirectory(dir, 0700, uid_).ok());
  EXPECT_EQ(ModeOf(dir), 0755u);  // an existing directory keeps its mode
}

TEST_F(TrustedDirTest, ADirectoryUnderOneOthersMayWriteIsRefused) {
  const std::string parent = MakeDir("open", 0777);
  absl::Status status = EnsureTrustedDirectory(parent + "/mine", 0700, uid_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("directory " + parent +
                                          " can be written by its group "
                                          "and others (mode 0777)"));
  EXPECT_FALSE(fs::exists(parent + "/mine"));

  MakeDir("open/mine", 0700);
  EXPECT_THAT(CheckTrustedDirectory(parent + "/mine", uid_).message(),
              HasSubstr("directory " + parent + ", above " + parent + "/mine, can be written"));
}

TEST_F(TrustedDirTest, ASymlinkIsNotFollowed) {
  const std::string target = MakeDir("target", 0700);
  fs::create_directory_symlink(target, Path("link"));
  absl::Status status = CheckTrustedDirectory(Path("link"), uid_);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(status.message(), "directory " + Path("link") + " is a symlink; refusing to follow it");
  EXPECT_TRUE(absl::IsNotFound(CheckTrustedDirectory(Path("missing"), uid_)));
}

TEST_F(TrustedDirTest, DirectoriesOfOtherUsersAreRefusedButRootsStickyOnesAreTrusted) {
  if (uid_ != 0) GTEST_SKIP() << "chown needs root";
  const std::string theirs = MakeDir("theirs", 0700);
  ASSERT_EQ(chown(theirs.c_str(), 65534, 65534), 0);
  absl::Status status = EnsureTrustedDirectory(theirs, 0700, 1000);
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(status.message(), HasSubstr("directory " + theirs + " is owned by "));
  EXPECT_THAT(status.message(), HasSubstr("(uid 65534), not by you ("));
  EXPECT_THAT(GetHint(status).value_or(""), HasSubstr("have it removed"));

  // Root's directories are trusted by everyone; a root-owned world-writable one only when sticky
  // (as /tmp), where nobody may replace another user's entries.
  const std::string tmp = MakeDir("tmp", 01777);
  EXPECT_TRUE(CheckTrustedDirectory(tmp, 1000).ok());
  ASSERT_EQ(chmod(tmp.c_str(), 0777), 0);
  EXPECT_THAT(CheckTrustedDirectory(tmp, 1000).message(),
              HasSubstr("can be written by its group and others (mode 0777)"));
}

}  // namespace
}  // namespace llorch
