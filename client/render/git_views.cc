#include "client/render/git_views.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "client/render/table.h"
#include "common/units.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

std::string Short(const std::string& sha) { return sha.empty() ? "-" : sha.substr(0, 12); }

// What is notable about a submodule, worst first.
Cell SubmoduleState(const v1::Submodule& submodule) {
  if (submodule.missing()) return {"missing: declared, no commit recorded", Color::kYellow};
  if (!submodule.initialized()) return {"not initialized", Color::kYellow};
  std::string state;
  Color color = Color::kGreen;
  if (submodule.dirty()) {
    state = "dirty";
    color = Color::kYellow;
  }
  if (submodule.out_of_sync()) {
    absl::StrAppend(&state, state.empty() ? "" : ", ", "not at the recorded commit");
    color = Color::kYellow;
  }
  return {state.empty() ? "ok" : state, color};
}

std::string BranchText(const v1::Submodule& submodule) {
  if (!submodule.initialized()) return "-";
  return submodule.detached() ? "(detached)" : submodule.branch();
}

Table SubmoduleTable(const google::protobuf::RepeatedPtrField<v1::Submodule>& submodules,
                     bool with_url) {
  std::vector<std::string> headers = {"SUBMODULE", "BRANCH", "RECORDED", "CHECKED OUT", "STATE"};
  if (with_url) headers.push_back("URL");
  Table table(headers);
  for (const v1::Submodule& submodule : submodules) {
    std::vector<Cell> row = {Cell(submodule.name(), Color::kBold), BranchText(submodule),
                             Short(submodule.recorded_sha()), Short(submodule.checked_out_sha()),
                             SubmoduleState(submodule)};
    if (with_url) row.push_back(submodule.url());
    table.AddRow(std::move(row));
  }
  return table;
}

std::string Moves(const google::protobuf::RepeatedPtrField<v1::SubmoduleMove>& moves,
                  const Style& style) {
  std::string out;
  for (const v1::SubmoduleMove& move : moves) {
    absl::StrAppend(&out, "  ", style.Paint(move.name(), Color::kBold), "  ", Short(move.old_sha()),
                    " -> ", Short(move.new_sha()), "\n");
  }
  return out;
}

// One side of a porcelain v2 status code in words.
const char* ChangeWord(char code) {
  switch (code) {
    case 'M':
      return "modified";
    case 'T':
      return "type changed";
    case 'A':
      return "added";
    case 'D':
      return "deleted";
    case 'R':
      return "renamed";
    case 'C':
      return "copied";
    default:
      return "changed";
  }
}

// A two-letter status ("index then worktree", see ChangedFile.status) in words: ".M" is
// "modified", "A." "added (staged)", "MM" "modified (staged), modified", "??" "untracked".
std::string ChangeText(const std::string& status) {
  if (status == "??") return "untracked";
  if (status == "!!") return "ignored";
  if (status.size() != 2) return status;
  if (status.find('U') != std::string::npos || status == "AA" || status == "DD") {
    return "conflict (unmerged)";
  }
  std::string text;
  if (status[0] != '.') text = absl::StrCat(ChangeWord(status[0]), " (staged)");
  if (status[1] != '.') absl::StrAppend(&text, text.empty() ? "" : ", ", ChangeWord(status[1]));
  return text.empty() ? status : text;
}

// The changed files, a line each: what changed, in words, then the path.
std::string ChangedFiles(const google::protobuf::RepeatedPtrField<v1::ChangedFile>& files) {
  size_t width = 0;
  for (const v1::ChangedFile& file : files)
    width = std::max(width, ChangeText(file.status()).size());
  std::string out;
  for (const v1::ChangedFile& file : files) {
    const std::string change = ChangeText(file.status());
    absl::StrAppend(&out, "  ", change, std::string(width - change.size() + 2, ' '), file.path(),
                    "\n");
  }
  return out;
}

}  // namespace

std::string RenderGitStatus(const v1::GitStatus& status, const Style& style) {
  Table facts = Table::Facts();
  facts.AddRow({"repository", status.repo_root()});
  facts.AddRow({"branch",
                status.detached()
                    ? Cell(absl::StrCat("detached at ", Short(status.head().sha())), Color::kYellow)
                    : Cell(status.branch(), Color::kBold)});
  facts.AddRow(
      {"head", status.head().sha().empty()
                   ? Cell("no commit yet")
                   : Cell(absl::StrCat(status.head().short_sha(), " ", status.head().subject()))});
  if (status.upstream().empty()) {
    facts.AddRow({"upstream", Cell("none", Color::kDim)});
  } else if (status.ahead() == 0 && status.behind() == 0) {
    facts.AddRow({"upstream", absl::StrCat(status.upstream(), ", up to date")});
  } else {
    facts.AddRow({"upstream", Cell(absl::StrCat(status.upstream(), ", ", status.ahead(), " ahead, ",
                                                status.behind(), " behind (as of the last fetch)"),
                                   Color::kYellow)});
  }
  const bool clean =
      status.staged_count() + status.unstaged_count() + status.untracked_count() == 0;
  facts.AddRow({"changes", clean ? Cell("none", Color::kGreen)
                                 : Cell(absl::StrCat(status.staged_count(), " staged, ",
                                                     status.unstaged_count(), " unstaged, ",
                                                     status.untracked_count(), " untracked"),
                                        Color::kYellow)});
  facts.AddRow({"rustc", status.rust().rustc().empty() ? Cell("not installed", Color::kYellow)
                                                       : Cell(status.rust().rustc())});
  facts.AddRow({"cargo", status.rust().cargo().empty() ? Cell("not installed", Color::kYellow)
                                                       : Cell(status.rust().cargo())});
  std::string out = facts.Render(style);
  if (!status.files().empty()) absl::StrAppend(&out, "\n", ChangedFiles(status.files()));
  if (!status.submodules().empty()) {
    absl::StrAppend(&out, "\n", SubmoduleTable(status.submodules(), false).Render(style));
  }
  return out;
}

std::string RenderSubmodules(const v1::ListSubmodulesResponse& response, const Style& style) {
  if (response.submodules().empty()) return "No submodules (.gitmodules declares none).\n";
  return SubmoduleTable(response.submodules(), true).Render(style);
}

std::string RenderSubmodule(const v1::Submodule& submodule, const Style& style) {
  Table facts = Table::Facts();
  facts.AddRow({"name", Cell(submodule.name(), Color::kBold)});
  facts.AddRow({"path", submodule.path()});
  facts.AddRow({"url", submodule.url()});
  if (!submodule.configured_branch().empty()) {
    facts.AddRow({"configured branch", submodule.configured_branch()});
  }
  facts.AddRow(
      {"recorded commit", submodule.recorded_sha().empty() ? "-" : submodule.recorded_sha()});
  facts.AddRow(
      {"checked out", submodule.checked_out_sha().empty() ? "-" : submodule.checked_out_sha()});
  facts.AddRow({"branch", BranchText(submodule)});
  facts.AddRow({"state", SubmoduleState(submodule)});
  return facts.Render(style);
}

std::string RenderPullResult(const v1::GitPullResult& result, const Style& style) {
  std::string out;
  if (result.old_sha() == result.new_sha()) {
    out = absl::StrCat("Already up to date at ", Short(result.new_sha()), ".\n");
  } else {
    out = absl::StrCat(style.Paint(absl::StrCat("Updated ", Short(result.old_sha()), "..",
                                                Short(result.new_sha())),
                                   Color::kGreen),
                       ": ", Plural(result.commits_size(), "commit"), ", ",
                       Plural(result.files_changed(), "file"), " changed\n");
    for (const v1::Commit& commit : result.commits()) {
      absl::StrAppend(&out, "  ", commit.short_sha(), " ", commit.subject(), "\n");
    }
  }
  if (!result.submodules_moved().empty()) {
    absl::StrAppend(&out, "Submodules moved:\n", Moves(result.submodules_moved(), style));
  }
  return out;
}

bool SyncLosesNothing(const v1::GitSyncResult& result) {
  return result.discarded_changes().empty() && result.discarded_commits().empty() &&
         result.untracked_replaced().empty();
}

std::string RenderSyncResult(const v1::GitSyncResult& result, const Style& style) {
  std::string out;
  const char* verb = result.preview() ? "would be discarded" : "discarded";
  if (!result.discarded_changes().empty()) {
    absl::StrAppend(&out,
                    style.Paint(absl::StrCat("Uncommitted changes ", verb, ":"), Color::kYellow),
                    "\n", ChangedFiles(result.discarded_changes()));
  }
  if (!result.untracked_replaced().empty()) {
    absl::StrAppend(&out,
                    style.Paint(absl::StrCat("Untracked paths ", result.upstream(),
                                             result.preview() ? " would replace:" : " replaced:"),
                                Color::kYellow),
                    "\n");
    for (const v1::PathInTheWay& path : result.untracked_replaced()) {
      absl::StrAppend(&out, "  ", path.path());
      // Say which tracked path takes its place when it is not the same one.
      if (absl::StripSuffix(path.path(), "/") != path.upstream_path()) {
        absl::StrAppend(&out, "  (", result.upstream(), "'s ", path.upstream_path(), ")");
      }
      out += "\n";
    }
  }
  if (!result.discarded_commits().empty()) {
    absl::StrAppend(&out,
                    style.Paint(absl::StrCat("Local commits not on ", result.upstream(), " ", verb,
                                             " (git's reflog keeps them for a while):"),
                                Color::kYellow),
                    "\n");
    for (const v1::Commit& commit : result.discarded_commits()) {
      absl::StrAppend(&out, "  ", commit.short_sha(), " ", commit.subject(), "\n");
    }
  }
  if (result.preview()) {
    if (SyncLosesNothing(result)) out += "Nothing local would be lost.\n";
    absl::StrAppend(&out, "HEAD would move ", Short(result.old_sha()), " -> ",
                    Short(result.new_sha()), " (", result.upstream(), ")\n");
    if (!result.submodules_moved().empty()) {
      absl::StrAppend(&out, "Submodules would move:\n", Moves(result.submodules_moved(), style));
    }
    return out;
  }
  absl::StrAppend(&out, style.Paint(absl::StrCat("Synced to ", result.upstream()), Color::kGreen),
                  ": HEAD ", Short(result.old_sha()), " -> ", Short(result.new_sha()), "\n");
  if (!result.submodules_moved().empty()) {
    absl::StrAppend(&out, "Submodules moved:\n", Moves(result.submodules_moved(), style));
  }
  return out;
}

std::string RenderSubmoduleUpdate(const v1::SubmoduleUpdateResult& result, const Style& style) {
  std::string out;
  if (result.moved().empty()) {
    out = "No submodule moved.\n";
  } else {
    absl::StrAppend(&out, "Submodules moved:\n", Moves(result.moved(), style));
  }
  for (const std::string& name : result.kept_on_branch()) {
    absl::StrAppend(&out,
                    style.Paint(absl::StrCat(name,
                                             " is on a branch and was left there (add "
                                             "--force to move it)"),
                                Color::kYellow),
                    "\n");
  }
  return out;
}

std::string RenderSubmoduleReset(const v1::ResetSubmoduleResponse& response, const Style& style) {
  const v1::Submodule& submodule = response.submodule();
  std::string out = absl::StrCat(style.Paint(submodule.name(), Color::kBold),
                                 " is at the recorded commit ", Short(submodule.checked_out_sha()));
  if (response.previous_sha() != submodule.checked_out_sha()) {
    absl::StrAppend(&out, " (was ", Short(response.previous_sha()), ")");
  }
  out += ".\n";
  if (response.discarded_changes().empty()) return out + "Nothing was discarded.\n";
  return absl::StrCat(out, "Discarded:\n", ChangedFiles(response.discarded_changes()));
}

std::string RenderClean(const v1::CleanResponse& response, const Style& style) {
  std::string out;
  if (response.removed().empty()) {
    out = "Nothing to clean.\n";
  } else {
    absl::StrAppend(&out, response.dry_run() ? "Would remove:\n" : "Removed:\n");
    for (const std::string& path : response.removed()) absl::StrAppend(&out, "  ", path, "\n");
  }
  for (const std::string& path : response.kept()) {
    absl::StrAppend(
        &out, style.Paint(absl::StrCat("Kept ", path, " (models or agent state)"), Color::kDim),
        "\n");
  }
  return out;
}

}  // namespace llorch
