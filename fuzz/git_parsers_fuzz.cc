// Every parser of git's machine formats (agent/git/git_parsers.h) on any text, as a hostile
// repository (file names, .gitmodules, commit subjects) could make git print it: no crash, counts
// that add up, and C-quoted paths that unquote to the bytes git quoted.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_format.h"
#include "agent/git/git_parsers.h"
#include "fuzz/fuzz_check.h"

namespace {

// `path` as git's quote_c_style prints a name with unusual bytes.
std::string GitQuote(const std::string& path) {
  std::string quoted = "\"";
  for (const char c : path) {
    const auto byte = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        quoted += "\\\"";
        break;
      case '\\':
        quoted += "\\\\";
        break;
      case '\a':
        quoted += "\\a";
        break;
      case '\b':
        quoted += "\\b";
        break;
      case '\t':
        quoted += "\\t";
        break;
      case '\n':
        quoted += "\\n";
        break;
      case '\v':
        quoted += "\\v";
        break;
      case '\f':
        quoted += "\\f";
        break;
      case '\r':
        quoted += "\\r";
        break;
      default:
        if (byte < 0x20 || byte >= 0x7f) {
          quoted += absl::StrFormat("\\%03o", byte);
        } else {
          quoted += c;
        }
    }
  }
  return quoted + "\"";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);

  const absl::StatusOr<llorch::WorktreeStatus> status = llorch::ParseStatusV2(text);
  if (status.ok()) {
    const size_t changes = status->changes.size();
    FUZZ_CHECK(status->staged <= changes && status->unstaged <= changes &&
                   status->untracked <= changes && status->conflicted.size() <= changes,
               "every count counts entries of changes");
    FUZZ_CHECK(!status->detached || status->branch.empty(), "a detached head has no branch");
  }
  for (const llorch::GitmodulesEntry& entry : llorch::ParseGitmodules(text)) {
    FUZZ_CHECK(!entry.path.empty(), "entries without a path are left out");
  }
  llorch::ParseGitlinks(text);
  llorch::ParseLog(text);
  for (const std::string& entry : llorch::SplitNul(text)) {
    FUZZ_CHECK(!entry.empty() && entry.find('\0') == std::string::npos, "entries hold no NUL");
  }
  static_cast<void>(llorch::ParseTreeZ(text));
  llorch::UnquotePath(text);
  llorch::ParseCleanLine(text);
  llorch::ParseGitProgress(text);

  const std::string path(text);
  FUZZ_CHECK(llorch::UnquotePath(GitQuote(path)) == path, "a quoted path unquotes to itself");
  return 0;
}
