// A directory tree as it is on disk, to show that something left it alone.
#ifndef LLORCH_TESTS_SUPPORT_TREE_SNAPSHOT_H_
#define LLORCH_TESTS_SUPPORT_TREE_SNAPSHOT_H_

#include <map>
#include <string>

namespace llorch::testing {

// Every entry below `dir`, by path relative to it, with what it holds: a file's bytes,
// "-> <target>" for a symlink (never followed), "(dir)" for a directory. Empty when `dir` does
// not exist.
std::map<std::string, std::string> SnapshotTree(const std::string& dir);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_TREE_SNAPSHOT_H_
