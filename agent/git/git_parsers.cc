#include "agent/git/git_parsers.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace llorch {
namespace {

// The text after the first `count` space-separated fields (the path, which may hold spaces).
absl::string_view AfterFields(absl::string_view line, int count) {
  for (int i = 0; i < count; ++i) {
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) return "";
    line.remove_prefix(space + 1);
  }
  return line;
}

void CountEntry(const std::string& xy, WorktreeStatus* status) {
  if (xy.size() != 2) return;
  if (xy[0] != '.') ++status->staged;
  if (xy[1] != '.') ++status->unstaged;
}

}  // namespace

absl::StatusOr<WorktreeStatus> ParseStatusV2(absl::string_view text) {
  WorktreeStatus status;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "# ")) {
      const size_t space = line.find(' ');
      const absl::string_view key = line.substr(0, space);
      const absl::string_view value =
          space == absl::string_view::npos ? "" : line.substr(space + 1);
      if (key == "branch.oid") {
        status.head_sha = value == "(initial)" ? "" : std::string(value);
      } else if (key == "branch.head") {
        status.detached = value == "(detached)";
        status.branch = status.detached ? "" : std::string(value);
      } else if (key == "branch.upstream") {
        status.upstream = std::string(value);
      } else if (key == "branch.ab") {
        std::vector<absl::string_view> counts = absl::StrSplit(value, ' ');
        if (counts.size() != 2 || !absl::ConsumePrefix(&counts[0], "+") ||
            !absl::ConsumePrefix(&counts[1], "-") || !absl::SimpleAtoi(counts[0], &status.ahead) ||
            !absl::SimpleAtoi(counts[1], &status.behind)) {
          return absl::InternalError(absl::StrCat("unreadable git status line: # ", line));
        }
      }
      continue;
    }
    const char kind = line[0];
    if (kind == '?' || kind == '!') {
      if (kind == '?') {
        ++status.untracked;
        status.changes.push_back({std::string(AfterFields(line, 1)), "??"});
      }
      continue;
    }
    // "1 XY ...8 fields... path", "2 XY ...9 fields... path\torig", "u XY ...10 fields... path"
    const int fields = kind == '1' ? 8 : kind == '2' ? 9 : kind == 'u' ? 10 : -1;
    if (fields < 0 || line.size() < 4) {
      return absl::InternalError(absl::StrCat("unreadable git status line: ", line));
    }
    const std::string xy(line.substr(2, 2));
    std::string path(AfterFields(line, fields));
    if (kind == '2') path = path.substr(0, path.find('\t'));
    if (kind == 'u') {
      ++status.unstaged;
      status.conflicted.push_back(path);
    } else {
      CountEntry(xy, &status);
    }
    status.changes.push_back({std::move(path), xy});
  }
  return status;
}

std::vector<GitmodulesEntry> ParseGitmodules(absl::string_view config_list) {
  std::vector<GitmodulesEntry> entries;
  for (absl::string_view line : absl::StrSplit(config_list, '\n', absl::SkipEmpty())) {
    const size_t equals = line.find('=');
    if (equals == absl::string_view::npos) continue;
    absl::string_view key = line.substr(0, equals);
    const absl::string_view value = line.substr(equals + 1);
    // submodule.<name>.<variable>: the name may hold dots ("reference/llama.cpp").
    if (!absl::ConsumePrefix(&key, "submodule.")) continue;
    const size_t last_dot = key.rfind('.');
    if (last_dot == absl::string_view::npos || last_dot == 0) continue;
    const std::string name(key.substr(0, last_dot));
    const std::string variable = absl::AsciiStrToLower(key.substr(last_dot + 1));
    auto it = std::find_if(entries.begin(), entries.end(),
                           [&](const GitmodulesEntry& entry) { return entry.name == name; });
    if (it == entries.end()) {
      entries.push_back({name, "", "", ""});
      it = entries.end() - 1;
    }
    if (variable == "path") it->path = std::string(value);
    if (variable == "url") it->url = std::string(value);
    if (variable == "branch") it->branch = std::string(value);
  }
  std::erase_if(entries, [](const GitmodulesEntry& entry) { return entry.path.empty(); });
  return entries;
}

std::map<std::string, std::string> ParseGitlinks(absl::string_view text) {
  std::map<std::string, std::string> gitlinks;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const size_t tab = line.find('\t');
    if (tab == absl::string_view::npos) continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line.substr(0, tab), ' ', absl::SkipEmpty());
    if (fields.size() != 3 || fields[0] != "160000") continue;
    const absl::string_view sha = fields[1] == "commit" ? fields[2] : fields[1];
    gitlinks[std::string(line.substr(tab + 1))] = std::string(sha);
  }
  return gitlinks;
}

std::vector<LoggedCommit> ParseLog(absl::string_view text) {
  std::vector<LoggedCommit> commits;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const size_t separator = line.find('\x1f');
    commits.push_back(
        {std::string(line.substr(0, separator)),
         separator == absl::string_view::npos ? "" : std::string(line.substr(separator + 1))});
  }
  return commits;
}

std::vector<std::string> SplitNul(absl::string_view text) {
  std::vector<std::string> entries;
  for (absl::string_view entry : absl::StrSplit(text, '\0', absl::SkipEmpty())) {
    entries.emplace_back(entry);
  }
  return entries;
}

absl::StatusOr<std::vector<TreeEntry>> ParseTreeZ(absl::string_view text) {
  std::vector<TreeEntry> entries;
  for (absl::string_view record : absl::StrSplit(text, '\0', absl::SkipEmpty())) {
    const size_t tab = record.find('\t');
    const size_t space = record.find(' ');
    if (tab == absl::string_view::npos || space == absl::string_view::npos || space > tab) {
      return absl::InternalError(absl::StrCat("unreadable git ls-tree entry: ", record));
    }
    entries.push_back({std::string(record.substr(0, space)), std::string(record.substr(tab + 1))});
  }
  return entries;
}

std::string UnquotePath(absl::string_view text) {
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') return std::string(text);
  text = text.substr(1, text.size() - 2);
  std::string path;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\' || i + 1 == text.size()) {
      path.push_back(text[i]);
      continue;
    }
    const char escaped = text[++i];
    if (escaped >= '0' && escaped <= '3' && i + 2 < text.size()) {  // \ooo, one byte
      path.push_back(static_cast<char>(((escaped - '0') << 6) | ((text[i + 1] - '0') << 3) |
                                       (text[i + 2] - '0')));
      i += 2;
      continue;
    }
    switch (escaped) {
      case 'a':
        path.push_back('\a');
        break;
      case 'b':
        path.push_back('\b');
        break;
      case 't':
        path.push_back('\t');
        break;
      case 'n':
        path.push_back('\n');
        break;
      case 'v':
        path.push_back('\v');
        break;
      case 'f':
        path.push_back('\f');
        break;
      case 'r':
        path.push_back('\r');
        break;
      default:
        path.push_back(escaped);  // '"' and '\\'
    }
  }
  return path;
}

std::optional<std::string> ParseCleanLine(absl::string_view line) {
  if (!absl::ConsumePrefix(&line, "Would remove ") && !absl::ConsumePrefix(&line, "Removing ")) {
    return std::nullopt;
  }
  return UnquotePath(line);
}

std::optional<GitProgress> ParseGitProgress(absl::string_view line) {
  // "remote: " prefixes the server's own counting ("remote: Counting objects: 50% (1/2)").
  absl::ConsumePrefix(&line, "remote: ");
  const size_t colon = line.find(": ");
  const size_t open = line.find("% (");
  if (colon == absl::string_view::npos || open == absl::string_view::npos || open < colon) {
    return std::nullopt;
  }
  const size_t slash = line.find('/', open);
  const size_t close = line.find(')', open);
  if (slash == absl::string_view::npos || close == absl::string_view::npos || close < slash) {
    return std::nullopt;
  }
  GitProgress progress;
  progress.what = std::string(line.substr(0, colon));
  if (!absl::SimpleAtoi(line.substr(open + 3, slash - open - 3), &progress.done) ||
      !absl::SimpleAtoi(line.substr(slash + 1, close - slash - 1), &progress.total)) {
    return std::nullopt;
  }
  return progress;
}

}  // namespace llorch
