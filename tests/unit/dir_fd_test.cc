// DirFd and the atomic writes over it: nothing below a root is reached through a symlink, a
// refused call has created nothing, and a FIFO or an oversized file where a small file should be
// fails at once instead of hanging or filling memory.
#include "common/dir_fd.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>

#include "common/atomic_file.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class DirFdTest : public ::testing::Test {
 protected:
  fs::path Root() const { return fs::path(temp_.path()) / "root"; }
  fs::path Outside() const { return fs::path(temp_.path()) / "outside"; }
  DirFd OpenRoot() const { return DirFd::OpenRoot(Root(), true).value(); }

  testing::TempDir temp_;
};

TEST_F(DirFdTest, ASymlinkedComponentIsRefusedAndNothingIsCreatedInItsTarget) {
  fs::create_directories(Outside());
  fs::create_directories(Root() / "model");
  fs::create_directory_symlink(Outside(), Root() / "model" / ".meta");
  absl::StatusOr<DirFd> dir = OpenRoot().OpenDir("model/.meta/deeper", /*create=*/true);
  ASSERT_FALSE(dir.ok());
  EXPECT_EQ(dir.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetReason(dir.status()), reasons::kSymlinkRefused);
  EXPECT_THAT(dir.status().message(), HasSubstr((Root() / "model" / ".meta").string() +
                                                " is a symlink (to " + Outside().string() + ")"));
  EXPECT_TRUE(fs::is_empty(Outside()));

  // Nor is a file opened, created or removed through one.
  fs::create_symlink(Outside() / "file", Root() / "link");
  absl::StatusOr<UniqueFd> file = OpenRoot().OpenFile("link", O_WRONLY | O_CREAT);
  EXPECT_EQ(GetReason(file.status()), reasons::kSymlinkRefused);
  EXPECT_FALSE(fs::exists(Outside() / "file"));
  testing::WriteFileBytes((Outside() / "file").string(), "kept");
  ASSERT_TRUE(OpenRoot().Unlink("link").ok());
  EXPECT_FALSE(fs::exists(fs::symlink_status(Root() / "link")));
  EXPECT_EQ(testing::ReadFileBytes((Outside() / "file").string()), "kept");
}

TEST_F(DirFdTest, PathsThatLeaveTheDirectoryAreInvalid) {
  const DirFd root = OpenRoot();
  for (const char* relative : {"", "..", "a/../b", "/etc", "a//b", "."}) {
    EXPECT_EQ(root.OpenDir(relative, true).status().code(), absl::StatusCode::kInvalidArgument)
        << relative;
  }
  EXPECT_EQ(root.OpenFile("../x", O_RDONLY).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(fs::is_empty(Root()));
}

TEST_F(DirFdTest, AFifoOrAnOversizedFileIsRefusedWithoutWaiting) {
  const DirFd root = OpenRoot();
  ASSERT_EQ(mkfifo((Root() / "fifo").c_str(), 0644), 0);
  absl::StatusOr<std::string> fifo = root.ReadFile("fifo", 1024);  // never waits for a writer
  EXPECT_EQ(fifo.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(fifo.status().message(), HasSubstr("fifo: the file in " + Root().string()));
  EXPECT_THAT(fifo.status().message(), HasSubstr("is a FIFO (named pipe), not a regular file"));
  fs::create_symlink("/dev/zero", Root() / "zero");
  EXPECT_EQ(GetReason(root.ReadFile("zero", 1024).status()), reasons::kSymlinkRefused);

  testing::WriteFileBytes((Root() / "big").string(), std::string(2000, 'x'));
  EXPECT_THAT(root.ReadFile("big", 1999).status().message(),
              HasSubstr("is 2000 bytes, over the limit of 1999 bytes"));
  EXPECT_EQ(root.ReadFile("big", 2000).value().size(), 2000u);
  EXPECT_EQ(root.ReadFile("missing", 10).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(DirFdTest, AnAtomicWriteReplacesASymlinkInsteadOfWritingThroughIt) {
  testing::WriteFileBytes((Outside() / "target").string(), "outside");
  const DirFd root = OpenRoot();
  fs::create_symlink(Outside() / "target", Root() / "state.json");
  ASSERT_TRUE(WriteFileAtomically(root, "state.json", "inside").ok());
  EXPECT_FALSE(fs::is_symlink(Root() / "state.json"));
  EXPECT_EQ(testing::ReadFileBytes((Root() / "state.json").string()), "inside");
  EXPECT_EQ(testing::ReadFileBytes((Outside() / "target").string()), "outside");
  EXPECT_EQ(std::distance(fs::directory_iterator(Root()), fs::directory_iterator()), 1);

  // A durable rename moves only a regular file.
  fs::create_symlink(Outside() / "target", Root() / "partial");
  absl::Status moved = RenameDurably(root, "partial", root, "model.gguf");
  EXPECT_EQ(GetReason(moved), reasons::kSymlinkRefused);
  EXPECT_FALSE(fs::exists(fs::symlink_status(Root() / "model.gguf")));
}

TEST_F(DirFdTest, ListTreeShowsASymlinkAsItselfAndNeverDescendsIntoIt) {
  testing::WriteFileBytes((Outside() / "secret.gguf").string(), "12345");
  testing::WriteFileBytes((Root() / "a" / "file").string(), "abc");
  fs::create_directory_symlink(Outside(), Root() / "a" / "link");
  std::vector<DirFd::TreeEntry> entries = OpenRoot().ListTree();
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].path, "a/file");
  EXPECT_EQ(entries[0].info.st_size, 3);
  EXPECT_EQ(entries[1].path, "a/link");
  EXPECT_TRUE(S_ISLNK(entries[1].info.st_mode));
  EXPECT_EQ(entries[1].symlink_target, Outside().string());
}

}  // namespace
}  // namespace llorch
