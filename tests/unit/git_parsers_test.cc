// The parsers of git's machine formats, on output captured from git 2.39 (LC_ALL=C).
#include "agent/git/git_parsers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace llorch {
namespace {

using ::testing::ElementsAre;
using namespace std::string_literals;

TEST(StatusV2Test, ReadsBranchUpstreamAndEveryKindOfEntry) {
  absl::StatusOr<WorktreeStatus> status = ParseStatusV2(
      "# branch.oid 1111111111111111111111111111111111111111\n"
      "# branch.head main\n"
      "# branch.upstream origin/main\n"
      "# branch.ab +2 -3\n"
      "1 .M N... 100644 100644 100644 aaaa aaaa src/main.rs\n"
      "1 A. N... 000000 100644 100644 0000 bbbb new file.txt\n"
      "1 MM N... 100644 100644 100644 cccc dddd both.txt\n"
      "2 R. N... 100644 100644 100644 eeee eeee R100 renamed.txt\told.txt\n"
      "1 .M SC.. 160000 160000 160000 ffff ffff reference/alpha\n"
      "u UU N... 100644 100644 100644 100644 1111 2222 3333 conflict.rs\n"
      "? untracked.log\n"
      "? build dir/\n"
      "! ignored.o\n");
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->head_sha, "1111111111111111111111111111111111111111");
  EXPECT_EQ(status->branch, "main");
  EXPECT_FALSE(status->detached);
  EXPECT_EQ(status->upstream, "origin/main");
  EXPECT_EQ(status->ahead, 2u);
  EXPECT_EQ(status->behind, 3u);
  EXPECT_EQ(status->staged, 3u);    // A., MM, R.
  EXPECT_EQ(status->unstaged, 4u);  // .M, MM, the submodule, the conflict
  EXPECT_EQ(status->untracked, 2u);
  EXPECT_THAT(status->conflicted, ElementsAre("conflict.rs"));
  ASSERT_EQ(status->changes.size(), 8u);
  EXPECT_EQ(status->changes[1].path, "new file.txt");
  EXPECT_EQ(status->changes[3].path, "renamed.txt");
  EXPECT_EQ(status->changes[3].status, "R.");
  EXPECT_EQ(status->changes[7].path, "build dir/");
  EXPECT_EQ(status->changes[7].status, "??");
  EXPECT_TRUE(status->has_tracked_changes());
}

TEST(StatusV2Test, DetachedInitialAndClean) {
  absl::StatusOr<WorktreeStatus> detached = ParseStatusV2(
      "# branch.oid 2222222222222222222222222222222222222222\n# branch.head (detached)\n");
  ASSERT_TRUE(detached.ok());
  EXPECT_TRUE(detached->detached);
  EXPECT_EQ(detached->branch, "");
  EXPECT_EQ(detached->upstream, "");
  EXPECT_FALSE(detached->has_tracked_changes());
  absl::StatusOr<WorktreeStatus> initial =
      ParseStatusV2("# branch.oid (initial)\n# branch.head main\n");
  ASSERT_TRUE(initial.ok());
  EXPECT_EQ(initial->head_sha, "");
  EXPECT_EQ(ParseStatusV2("x what is this\n").status().code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ParseStatusV2("# branch.ab +x -1\n").status().code(), absl::StatusCode::kInternal);
}

TEST(GitmodulesTest, ReadsSectionsInOrderWithDottedNames) {
  std::vector<GitmodulesEntry> entries = ParseGitmodules(
      "submodule.reference/candle.path=reference/candle\n"
      "submodule.reference/candle.url=git@github.com:huggingface/candle.git\n"
      "submodule.reference/candle.branch=llorch/metal-bugfixes\n"
      "submodule.reference/llama.cpp.path=reference/llama.cpp\n"
      "submodule.reference/llama.cpp.url=https://github.com/ggerganov/llama.cpp\n"
      "submodule.orphan.url=https://example.com/no-path.git\n"
      "core.bare=false\n");
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].name, "reference/candle");
  EXPECT_EQ(entries[0].path, "reference/candle");
  EXPECT_EQ(entries[0].url, "git@github.com:huggingface/candle.git");
  EXPECT_EQ(entries[0].branch, "llorch/metal-bugfixes");
  EXPECT_EQ(entries[1].name, "reference/llama.cpp");
  EXPECT_EQ(entries[1].branch, "");
}

TEST(GitlinksTest, ReadsLsFilesAndLsTreeAndSkipsOtherEntries) {
  EXPECT_EQ(ParseGitlinks("160000 aaaa 0\treference/alpha\n100644 bbbb 0\tREADME.md\n"),
            (std::map<std::string, std::string>{{"reference/alpha", "aaaa"}}));
  EXPECT_EQ(ParseGitlinks("160000 commit cccc\treference/beta\n040000 tree dddd\tsrc\n"),
            (std::map<std::string, std::string>{{"reference/beta", "cccc"}}));
}

TEST(TreeTest, ReadsModesAndPathsWhateverBytesThePathsHold) {
  absl::StatusOr<std::vector<TreeEntry>> entries = ParseTreeZ(
      "100644 blob aaaa\tnotes.txt\0"
      "160000 commit bbbb\treference/alpha\0"
      "120000 blob cccc\ta\nb c\0"s);
  ASSERT_TRUE(entries.ok()) << entries.status();
  ASSERT_EQ(entries->size(), 3u);
  EXPECT_EQ((*entries)[0].path, "notes.txt");
  EXPECT_FALSE((*entries)[0].is_gitlink());
  EXPECT_TRUE((*entries)[1].is_gitlink());
  EXPECT_EQ((*entries)[2].mode, "120000");
  EXPECT_EQ((*entries)[2].path, "a\nb c");
  EXPECT_FALSE(ParseTreeZ("garbage\0"s).ok());
  EXPECT_THAT(SplitNul("a b\0c\nd/\0"s), ElementsAre("a b", "c\nd/"));
}

TEST(CleanLineTest, UnquotesWhatGitQuotes) {
  EXPECT_EQ(ParseCleanLine("Would remove junk.txt"), "junk.txt");
  EXPECT_EQ(ParseCleanLine("Removing build/"), "build/");
  EXPECT_EQ(ParseCleanLine("Would remove \"a\\\\b/\""), "a\\b/");
  EXPECT_EQ(ParseCleanLine("Would remove \"mod\\303\\250les/\""), "mod\303\250les/");
  EXPECT_EQ(ParseCleanLine("Removing \"build \\\"x\\\"/\""), "build \"x\"/");
  EXPECT_EQ(ParseCleanLine("Removing \"tab\\there\\nline\""), "tab\there\nline");
  EXPECT_EQ(ParseCleanLine("Would skip repository nested/"), std::nullopt);
  EXPECT_EQ(UnquotePath("caf\xc3\xa9.txt"), "caf\xc3\xa9.txt");
}

TEST(LogTest, SplitsShaAndSubject) {
  std::vector<LoggedCommit> commits = ParseLog(
      "aaaa\x1f"
      "Fix: a\tb\nbbbb\x1f\n");
  ASSERT_EQ(commits.size(), 2u);
  EXPECT_EQ(commits[0].sha, "aaaa");
  EXPECT_EQ(commits[0].subject, "Fix: a\tb");
  EXPECT_EQ(commits[1].subject, "");
}

TEST(GitProgressTest, ReadsCountsOfGitsProgressLines) {
  std::optional<GitProgress> receiving =
      ParseGitProgress("Receiving objects:  45% (450/1000), 1.20 MiB | 2.00 MiB/s");
  ASSERT_TRUE(receiving.has_value());
  EXPECT_EQ(receiving->what, "Receiving objects");
  EXPECT_EQ(receiving->done, 450u);
  EXPECT_EQ(receiving->total, 1000u);
  std::optional<GitProgress> remote =
      ParseGitProgress("remote: Counting objects: 100% (7/7), done.");
  ASSERT_TRUE(remote.has_value());
  EXPECT_EQ(remote->what, "Counting objects");
  EXPECT_EQ(remote->total, 7u);
  EXPECT_FALSE(ParseGitProgress("From file:///tmp/origin").has_value());
  EXPECT_FALSE(ParseGitProgress("Updating 1a2b..3c4d").has_value());
  EXPECT_FALSE(ParseGitProgress("Fast-forward: 50% (x/y)").has_value());
}

}  // namespace
}  // namespace llorch
