#include "tests/support/tree_snapshot.h"

#include <filesystem>

#include "tests/support/run_command.h"

namespace llorch::testing {

std::map<std::string, std::string> SnapshotTree(const std::string& dir) {
  namespace fs = std::filesystem;
  std::map<std::string, std::string> entries;
  std::error_code error;
  if (!fs::exists(dir, error)) return entries;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    const std::string path = entry.path().lexically_relative(dir).string();
    entries[path] = entry.is_symlink()        ? "-> " + fs::read_symlink(entry.path()).string()
                    : entry.is_regular_file() ? ReadFileBytes(entry.path().string())
                                              : "(dir)";
  }
  return entries;
}

}  // namespace llorch::testing
