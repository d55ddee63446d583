#include "agent/git/git_repo.h"

#include <algorithm>
#include <future>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "agent/git/git_clean.h"
#include "agent/git/worktree_move.h"
#include "agent/ops/child_output_log.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/strings.h"

namespace llorch {
namespace fs = std::filesystem;
namespace v1 = pool::v1;
namespace {

constexpr size_t kListedChanges = 10;  // changed files named in an error message

std::string Short(absl::string_view sha) { return std::string(sha.substr(0, 12)); }

v1::Commit ToCommit(const LoggedCommit& logged) {
  v1::Commit commit;
  commit.set_sha(logged.sha);
  commit.set_short_sha(Short(logged.sha));
  commit.set_subject(logged.subject);
  return commit;
}

v1::ChangedFile ToChangedFile(const ChangedPath& path) {
  v1::ChangedFile file;
  file.set_path(path.path);
  file.set_status(path.status);
  return file;
}

// "a, b, c and 4 more"
std::string ListPaths(const std::vector<std::string>& paths) {
  std::vector<std::string> shown(paths.begin(),
                                 paths.begin() + std::min(paths.size(), kListedChanges));
  std::string text = absl::StrJoin(shown, ", ");
  if (paths.size() > shown.size())
    absl::StrAppend(&text, " and ", paths.size() - shown.size(), " more");
  return text;
}

std::vector<std::string> TrackedChanges(const WorktreeStatus& status) {
  std::vector<std::string> paths;
  for (const ChangedPath& change : status.changes) {
    if (change.status != "??") paths.push_back(change.path);
  }
  return paths;
}

// True when git's stderr says the remote could not be reached or read.
bool RemoteUnreachable(const GitResult& result) {
  for (const std::string& line : result.err) {
    for (absl::string_view sign :
         {"Could not read from remote repository", "does not appear to be a git repository",
          "unable to access", "Could not resolve host", "Connection refused",
          "Connection timed out", "Permission denied (publickey", "Host key verification failed",
          "could not read Username", "Authentication failed", "repository not found"}) {
      if (absl::StrContains(line, sign)) return true;
    }
  }
  return false;
}

absl::Status Unreachable(const GitResult& result, absl::string_view what,
                         absl::string_view remote) {
  return WithMetadata(
      WithReason(
          WithHint(absl::UnavailableError(absl::StrCat("cannot ", what, ": ", remote,
                                                       " cannot be reached (", result.LastError(),
                                                       "); nothing was changed")),
                   "check the network and the remote's URL and credentials (an ssh key without a "
                   "passphrase prompt, or a credential helper): the agent cannot answer prompts"),
          reasons::kRemoteUnreachable),
      metadata::kRemote, remote);
}

// `rustc --version` and the like: the first line of stdout, "" when the program is missing.
std::string ToolVersion(const std::string& program) {
  SubprocessOptions run;
  run.argv = {program, "--version"};
  std::string first_line;
  run.on_line = [&](const OutputLine& line) {
    if (line.stream == OutputLine::Stream::kStdout && first_line.empty()) {
      first_line = std::string(line.text);
    }
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  run.should_stop = [&] { return absl::Now() >= deadline; };
  absl::StatusOr<SubprocessResult> result = RunSubprocess(run);
  if (!result.ok() || !result->succeeded()) return "";
  return first_line;
}

template <typename T>
std::future<T> InParallel(std::function<T()> work) {
  return std::async(std::launch::async, std::move(work));
}

}  // namespace

v1::PullMode PullModeFromConfig(const std::string& mode) {
  if (mode == "ff-only") return v1::PULL_MODE_FF_ONLY;
  if (mode == "merge") return v1::PULL_MODE_MERGE;
  return v1::PULL_MODE_REBASE;
}

GitRepo::GitRepo(GitRepoOptions options)
    : options_(std::move(options)), runner_(options_.git), protected_(options_.protected_dirs) {}

absl::StatusOr<std::string> GitRepo::Git(const std::vector<std::string>& args) const {
  return runner_.Output(options_.root, args);
}

absl::Status GitRepo::CheckRepo() const {
  if (options_.root.empty()) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(
                     "the agent has no repository checkout (repo_root is not set and it does not "
                     "run inside a git checkout)"),
                 "set repo_root in pool.toml (or LLORCH_REPO_ROOT, or --repo-root) to the "
                 "llama-orch checkout"),
        reasons::kNotAGitRepo);
  }
  std::error_code ec;
  if (!fs::exists(options_.root / ".git", ec)) {
    return WithReason(WithHint(absl::FailedPreconditionError(
                                   absl::StrCat(options_.root.string(), " is not a git checkout")),
                               "point repo_root at the llama-orch checkout"),
                      reasons::kNotAGitRepo);
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<GitmodulesEntry>> GitRepo::Declared() const {
  std::error_code ec;
  if (!fs::exists(options_.root / ".gitmodules", ec)) return std::vector<GitmodulesEntry>();
  absl::StatusOr<std::string> list = Git({"config", "-f", ".gitmodules", "--list"});
  if (!list.ok()) return list.status();
  return ParseGitmodules(*list);
}

absl::Status GitRepo::CheckHoldsNothingProtected(const v1::Submodule& submodule) const {
  const ProtectedDir* held = protected_.In(options_.root).AtOrBelow(submodule.path());
  if (held == nullptr) return absl::OkStatus();
  return WithMetadata(
      WithReason(WithHint(absl::FailedPreconditionError(
                              absl::StrCat("submodule ", submodule.name(), " holds ", held->what,
                                           " (", held->path.string(),
                                           "): git would check out its files over it; nothing was "
                                           "changed")),
                          absl::StrCat("move ", held->what, " out of ", submodule.path(),
                                       " (models_dir or state_dir in pool.toml)")),
                 reasons::kProtectedPath),
      metadata::kPath, held->path.string());
}

absl::Status GitRepo::CheckSubmoduleNames(const std::vector<std::string>& names) const {
  if (absl::Status repo = CheckRepo(); !repo.ok()) return repo;
  absl::StatusOr<std::vector<GitmodulesEntry>> declared = Declared();
  if (!declared.ok()) return declared.status();
  std::vector<std::string> known;
  for (const GitmodulesEntry& entry : *declared) known.push_back(entry.name);
  for (const std::string& name : names) {
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    absl::Status unknown = WithMetadata(
        WithReason(
            WithHint(absl::NotFoundError(absl::StrCat("no submodule '", name, "' in .gitmodules",
                                                      DidYouMean(name, known))),
                     known.empty()
                         ? "this checkout declares no submodules"
                         : absl::StrCat("known submodules: ", absl::StrJoin(known, ", "))),
            reasons::kSubmoduleNotFound),
        metadata::kSubmodule, name);
    const std::vector<std::string> suggestions = ClosestMatches(name, known, 3);
    if (suggestions.empty()) return unknown;
    return WithMetadata(std::move(unknown), metadata::kSuggestions,
                        absl::StrJoin(suggestions, ","));
  }
  return absl::OkStatus();
}

absl::Status GitRepo::CheckBranchName(const std::string& branch) const {
  auto invalid = [&](absl::string_view why) {
    return WithMetadata(WithReason(WithHint(absl::InvalidArgumentError(absl::StrCat(
                                                "'", branch, "' is not a valid branch name", why)),
                                            "branch names are like main or llorch/metal-bugfixes"),
                                   reasons::kBadBranchName),
                        metadata::kBranch, branch);
  };
  if (branch.empty()) return invalid(": it is empty");
  if (branch.front() == '-') return invalid(": it may not start with '-'");
  absl::StatusOr<GitResult> result =
      runner_.Run(options_.root.empty() ? fs::path("/") : options_.root,
                  {"check-ref-format", "--branch", branch});
  if (!result.ok()) return result.status();
  if (!result->ok()) return invalid(" (git check-ref-format)");
  return absl::OkStatus();
}

absl::StatusOr<WorktreeStatus> GitRepo::WorktreeOf(const fs::path& dir,
                                                   bool submodule_content) const {
  std::vector<std::string> args = {"status", "--porcelain=v2", "--branch"};
  if (!submodule_content) args.push_back("--ignore-submodules=dirty");
  absl::StatusOr<std::string> text = runner_.Output(dir, args);
  if (!text.ok()) return text.status();
  return ParseStatusV2(*text);
}

absl::StatusOr<v1::Submodule> GitRepo::Describe(const GitmodulesEntry& entry,
                                                const std::string& recorded_sha) const {
  v1::Submodule submodule;
  submodule.set_name(entry.name);
  submodule.set_path(entry.path);
  submodule.set_url(entry.url);
  submodule.set_configured_branch(entry.branch);
  submodule.set_recorded_sha(recorded_sha);
  submodule.set_missing(recorded_sha.empty());
  const fs::path dir = options_.root / entry.path;
  std::error_code ec;
  submodule.set_initialized(fs::exists(dir / ".git", ec));
  if (!submodule.initialized()) return submodule;
  absl::StatusOr<WorktreeStatus> worktree = WorktreeOf(dir);
  if (!worktree.ok()) return worktree.status();
  submodule.set_checked_out_sha(worktree->head_sha);
  submodule.set_branch(worktree->branch);
  submodule.set_detached(worktree->detached);
  submodule.set_dirty(!worktree->changes.empty());
  submodule.set_out_of_sync(!recorded_sha.empty() && recorded_sha != worktree->head_sha);
  return submodule;
}

absl::StatusOr<std::vector<v1::Submodule>> GitRepo::Submodules() const {
  if (absl::Status repo = CheckRepo(); !repo.ok()) return repo;
  absl::StatusOr<std::vector<GitmodulesEntry>> declared = Declared();
  if (!declared.ok()) return declared.status();
  if (declared->empty()) return std::vector<v1::Submodule>();
  std::vector<std::string> args = {"ls-files", "-s", "--"};
  for (const GitmodulesEntry& entry : *declared) args.push_back(entry.path);
  absl::StatusOr<std::string> staged = Git(args);
  if (!staged.ok()) return staged.status();
  const std::map<std::string, std::string> recorded = ParseGitlinks(*staged);
  std::vector<std::future<absl::StatusOr<v1::Submodule>>> described;
  for (const GitmodulesEntry& entry : *declared) {
    auto it = recorded.find(entry.path);
    const std::string sha = it == recorded.end() ? "" : it->second;
    described.push_back(InParallel<absl::StatusOr<v1::Submodule>>(
        [this, entry, sha] { return Describe(entry, sha); }));
  }
  std::vector<v1::Submodule> submodules;
  for (auto& future : described) {
    absl::StatusOr<v1::Submodule> submodule = future.get();
    if (!submodule.ok()) return submodule.status();
    submodules.push_back(std::move(*submodule));
  }
  return submodules;
}

absl::StatusOr<v1::Submodule> GitRepo::Find(const std::string& name) const {
  if (absl::Status check = CheckSubmoduleNames({name}); !check.ok()) return check;
  absl::StatusOr<std::vector<v1::Submodule>> submodules = Submodules();
  if (!submodules.ok()) return submodules.status();
  for (v1::Submodule& submodule : *submodules) {
    if (submodule.name() == name) return std::move(submodule);
  }
  return absl::NotFoundError(absl::StrCat("no submodule '", name, "'"));
}

absl::StatusOr<v1::Submodule> GitRepo::Submodule(const std::string& name) const {
  return Find(name);
}

absl::StatusOr<v1::GitStatus> GitRepo::Status(bool include_files) const {
  if (absl::Status repo = CheckRepo(); !repo.ok()) return repo;
  auto worktree = InParallel<absl::StatusOr<WorktreeStatus>>(
      [this] { return WorktreeOf(options_.root, /*submodule_content=*/false); });
  auto head = InParallel<absl::StatusOr<GitResult>>([this] {
    return runner_.Run(options_.root, {"log", "-1", "--format=%H%x1f%s"});
  });
  auto submodules =
      InParallel<absl::StatusOr<std::vector<v1::Submodule>>>([this] { return Submodules(); });
  auto rustc = InParallel<std::string>([this] { return ToolVersion(options_.rustc); });
  auto cargo = InParallel<std::string>([this] { return ToolVersion(options_.cargo); });

  v1::GitStatus status;
  status.set_repo_root(options_.root.string());
  absl::StatusOr<WorktreeStatus> tree = worktree.get();
  if (!tree.ok()) return tree.status();
  status.set_branch(tree->branch);
  status.set_detached(tree->detached);
  status.set_upstream(tree->upstream);
  status.set_ahead(tree->ahead);
  status.set_behind(tree->behind);
  status.set_staged_count(tree->staged);
  status.set_unstaged_count(tree->unstaged);
  status.set_untracked_count(tree->untracked);
  if (include_files) {
    for (const ChangedPath& change : tree->changes) *status.add_files() = ToChangedFile(change);
  }
  absl::StatusOr<GitResult> logged = head.get();
  if (!logged.ok()) return logged.status();
  if (logged->ok()) {  // else there is no commit yet
    std::vector<LoggedCommit> commits = ParseLog(logged->out);
    if (!commits.empty()) *status.mutable_head() = ToCommit(commits.front());
  }
  absl::StatusOr<std::vector<v1::Submodule>> described = submodules.get();
  if (!described.ok()) return described.status();
  for (v1::Submodule& submodule : *described) *status.add_submodules() = std::move(submodule);
  status.mutable_rust()->set_rustc(rustc.get());
  status.mutable_rust()->set_cargo(cargo.get());
  return status;
}

absl::StatusOr<GitResult> GitRepo::RunNetwork(const fs::path& dir,
                                              const std::vector<std::string>& args,
                                              Operation* op) const {
  GitWatch watch;
  std::optional<ChildOutputLog> log;
  if (op != nullptr) {
    log.emplace(*op);
    watch.cancelled = [op] { return op->cancel_requested(); };
    watch.on_line = [op, &log](const OutputLine& line) {
      if (std::optional<GitProgress> progress = ParseGitProgress(line.text)) {
        v1::Progress report;
        report.set_phase("fetch");
        report.set_unit(v1::PROGRESS_UNIT_ITEMS);
        report.set_done(progress->done);
        report.set_total(progress->total);
        report.set_current_item(progress->what);
        op->ReportProgress(report);
        return;
      }
      (*log)(line);
    };
  }
  return runner_.Run(dir, args, /*network=*/true, watch);
}

absl::StatusOr<v1::SubmoduleUpdateResult> GitRepo::UpdateEach(
    const std::vector<v1::Submodule>& submodules, bool remote, bool force, Operation& op) const {
  v1::SubmoduleUpdateResult result;
  v1::Progress steps;
  steps.set_phase("update");
  steps.set_unit(v1::PROGRESS_UNIT_STEPS);
  steps.set_total(submodules.size());
  for (const v1::Submodule& submodule : submodules) {
    steps.set_current_item(submodule.name());
    op.ReportProgress(steps);
    if (submodule.missing()) {
      op.Log(v1::LogLine::STREAM_AGENT,
             absl::StrCat(submodule.name(),
                          " is declared in .gitmodules but the checkout records "
                          "no commit for it: skipped"));
    } else if (!submodule.branch().empty() && !force) {
      // The bash script's `update --remote` silently detached a submodule switched to a branch.
      result.add_kept_on_branch(submodule.name());
      op.Log(v1::LogLine::STREAM_AGENT,
             absl::StrCat(submodule.name(), " is on branch ", submodule.branch(),
                          ": kept there (--force moves it to the ",
                          remote ? "remote tip" : "recorded commit", ")"));
    } else {
      std::vector<std::string> args = {"submodule", "update", "--init", "--recursive",
                                       "--progress"};
      if (remote) args.push_back("--remote");
      args.push_back("--");
      args.push_back(submodule.path());
      op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("git ", absl::StrJoin(args, " ")));
      absl::StatusOr<GitResult> updated = RunNetwork(options_.root, args, &op);
      if (!updated.ok()) return updated.status();
      if (!updated->ok()) {
        if (RemoteUnreachable(*updated)) {
          return Unreachable(*updated, absl::StrCat("update ", submodule.name()), submodule.url());
        }
        return WithHint(GitRunner::Failure(options_.root, args, *updated),
                        absl::StrCat("if local changes in ", submodule.path(),
                                     " are in the way: `llorch-pool git submodules reset --name ",
                                     submodule.name(), "` discards them"));
      }
      absl::StatusOr<v1::Submodule> after = Find(submodule.name());
      if (!after.ok()) return after.status();
      if (after->checked_out_sha() != submodule.checked_out_sha()) {
        v1::SubmoduleMove* move = result.add_moved();
        move->set_name(submodule.name());
        move->set_old_sha(submodule.checked_out_sha());
        move->set_new_sha(after->checked_out_sha());
      }
    }
    steps.set_done(steps.done() + 1);
    op.ReportProgress(steps);
  }
  return result;
}

absl::StatusOr<v1::SubmoduleUpdateResult> GitRepo::UpdateSubmodules(
    const std::vector<std::string>& names, bool remote, bool force, Operation& op) const {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (absl::Status check = CheckSubmoduleNames(names); !check.ok()) return check;
  absl::StatusOr<std::vector<v1::Submodule>> all = Submodules();
  if (!all.ok()) return all.status();
  std::vector<v1::Submodule> targets;
  for (const v1::Submodule& submodule : *all) {
    const bool named = std::find(names.begin(), names.end(), submodule.name()) != names.end();
    if (!names.empty() && !named) continue;
    if (named && submodule.missing()) {
      return WithHint(absl::FailedPreconditionError(
                          absl::StrCat(submodule.name(),
                                       " is declared in .gitmodules, but the checkout "
                                       "records no commit for it: there is nothing to update "
                                       "it to")),
                      "add it with `git submodule add`, or remove its section from .gitmodules");
    }
    if (absl::Status held = CheckHoldsNothingProtected(submodule); !held.ok()) return held;
    targets.push_back(submodule);
  }
  return UpdateEach(targets, remote, force, op);
}

absl::StatusOr<v1::GitPullResult> GitRepo::Pull(v1::PullMode mode, Operation& op) const {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (absl::Status repo = CheckRepo(); !repo.ok()) return repo;
  if (mode == v1::PULL_MODE_UNSPECIFIED) mode = options_.pull_mode;
  absl::StatusOr<WorktreeStatus> before = WorktreeOf(options_.root);
  if (!before.ok()) return before.status();
  const std::string root = options_.root.string();
  if (before->detached) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(absl::StrCat(
                     "HEAD is detached at ", Short(before->head_sha), ": pull needs a branch")),
                 absl::StrCat("check out a branch (`git -C ", root,
                              " switch main`), or `llorch-pool git sync` to reset to origin")),
        reasons::kDetachedHead);
  }
  if (before->upstream.empty()) {
    return WithReason(WithHint(absl::FailedPreconditionError(absl::StrCat(
                                   "branch ", before->branch, " has no upstream to pull from")),
                               absl::StrCat("`git -C ", root, " branch --set-upstream-to origin/",
                                            before->branch, "`")),
                      reasons::kNoUpstream);
  }
  if (before->has_tracked_changes()) {
    const std::vector<std::string> changed = TrackedChanges(*before);
    return WithReason(WithHint(absl::FailedPreconditionError(absl::StrCat(
                                   "local changes would block the pull: ", changed.size(),
                                   " changed file", changed.size() == 1 ? "" : "s", " (",
                                   ListPaths(changed), "); nothing was changed")),
                               absl::StrCat("commit or stash them (`git -C ", root,
                                            " stash`), or `llorch-pool git sync` to discard them")),
                      reasons::kLocalChanges);
  }
  absl::StatusOr<std::vector<v1::Submodule>> submodules_before = Submodules();
  if (!submodules_before.ok()) return submodules_before.status();

  // `git pull` in three steps, so that the tree it brings is checked before git touches the
  // work tree (git overwrites ignored files in the way of a merge or rebase without asking).
  const std::vector<std::string> fetch = {"fetch", "--progress", "--no-recurse-submodules"};
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("git ", absl::StrJoin(fetch, " ")));
  absl::StatusOr<GitResult> fetched = RunNetwork(options_.root, fetch, &op);
  if (!fetched.ok()) return fetched.status();
  if (!fetched->ok()) {
    if (RemoteUnreachable(*fetched)) return Unreachable(*fetched, "pull", before->upstream);
    return GitRunner::Failure(options_.root, fetch, *fetched);
  }
  absl::StatusOr<std::string> target =
      Git({"rev-parse", "--verify", "--quiet", "@{upstream}^{commit}"});
  if (!target.ok()) return target.status();
  absl::StatusOr<std::vector<PathInTheWay>> in_the_way =
      CheckMove(runner_, options_.root, protected_.In(options_.root), *target, before->upstream);
  if (!in_the_way.ok()) return in_the_way.status();
  if (!in_the_way->empty()) {
    std::vector<std::string> paths;
    for (const PathInTheWay& path : *in_the_way) paths.push_back(path.path);
    return WithReason(
        WithHint(absl::FailedPreconditionError(
                     absl::StrCat("untracked or ignored paths are in the way of ", before->upstream,
                                  ": ", ListPaths(paths),
                                  " (git would overwrite or remove them); nothing was "
                                  "changed")),
                 absl::StrCat("move them out of the way, or `llorch-pool git sync` to replace "
                              "them with ",
                              before->upstream, "'s files (it lists them and asks)")),
        reasons::kUntrackedInTheWay);
  }

  const char* flag = mode == v1::PULL_MODE_FF_ONLY ? "--ff-only"
                     : mode == v1::PULL_MODE_MERGE ? "--no-rebase"
                                                   : "--rebase";
  const std::vector<std::string> args =
      mode == v1::PULL_MODE_FF_ONLY ? std::vector<std::string>{"merge", "--ff-only", *target}
      : mode == v1::PULL_MODE_MERGE
          ? std::vector<std::string>{"merge", "--no-edit", "-m",
                                     absl::StrCat("Merge ", before->upstream, " into ",
                                                  before->branch),
                                     *target}
          : std::vector<std::string>{"rebase", *target};
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("git ", absl::StrJoin(args, " ")));
  absl::StatusOr<GitResult> pulled = RunNetwork(options_.root, args, &op);
  if (!pulled.ok()) return pulled.status();
  if (!pulled->ok()) {
    if (pulled->cancelled || pulled->timed_out)
      return GitRunner::Failure(options_.root, args, *pulled);
    // A conflict leaves a rebase or merge in progress: undo it, so the checkout is as it was.
    absl::StatusOr<WorktreeStatus> stuck = WorktreeOf(options_.root);
    const std::vector<std::string> conflicted =
        stuck.ok() ? stuck->conflicted : std::vector<std::string>();
    for (const char* abort : {"rebase", "merge"}) {
      runner_.Run(options_.root, {abort, "--abort"}).IgnoreError();
    }
    if (!conflicted.empty()) {
      return WithReason(
          WithHint(absl::AbortedError(
                       absl::StrCat("the pull stopped on conflicts in ", ListPaths(conflicted),
                                    "; the checkout is back at ", Short(before->head_sha))),
                   absl::StrCat("to resolve them by hand: `git -C ", root, " pull ", flag,
                                "`, edit the files, `git add` them and continue; or "
                                "`llorch-pool git sync` to take ",
                                before->upstream, " as it is (your ", before->ahead,
                                " local commits are then left behind)")),
          reasons::kConflict);
    }
    for (const std::string& line : pulled->err) {
      if (absl::StrContains(line, "Not possible to fast-forward") ||
          absl::StrContains(line, "Diverging branches")) {
        return WithReason(
            WithHint(absl::FailedPreconditionError(absl::StrCat(
                         before->branch, " and ", before->upstream,
                         " have diverged: a fast-forward-only pull cannot join them; nothing "
                         "was changed")),
                     "pull with --mode rebase or --mode merge, or `llorch-pool git sync` to take "
                     "origin's version"),
            reasons::kDiverged);
      }
    }
    return GitRunner::Failure(options_.root, args, *pulled);
  }

  v1::GitPullResult result;
  result.set_old_sha(before->head_sha);
  absl::StatusOr<std::string> new_sha = Git({"rev-parse", "HEAD"});
  if (!new_sha.ok()) return new_sha.status();
  result.set_new_sha(*new_sha);
  if (result.new_sha() != result.old_sha()) {
    const std::string range = absl::StrCat(result.old_sha(), "..", result.new_sha());
    absl::StatusOr<std::string> log = Git({"log", "--reverse", "--format=%H%x1f%s", range, "--"});
    if (!log.ok()) return log.status();
    for (const LoggedCommit& commit : ParseLog(*log)) *result.add_commits() = ToCommit(commit);
    absl::StatusOr<std::string> changed =
        Git({"diff", "--name-only", result.old_sha(), result.new_sha(), "--"});
    if (!changed.ok()) return changed.status();
    result.set_files_changed(static_cast<uint32_t>(
        std::vector<absl::string_view>(absl::StrSplit(*changed, '\n', absl::SkipEmpty())).size()));
  }
  absl::StatusOr<v1::SubmoduleUpdateResult> updated =
      UpdateEach(*submodules_before, /*remote=*/false, /*force=*/false, op);
  if (!updated.ok()) return updated.status();
  *result.mutable_submodules_moved() = updated->moved();
  return result;
}

absl::StatusOr<v1::GitSyncResult> GitRepo::Sync(const std::string& requested_branch, bool preview,
                                                Operation& op) const {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (absl::Status repo = CheckRepo(); !repo.ok()) return repo;
  const std::string branch = requested_branch.empty() ? options_.sync_branch : requested_branch;
  if (absl::Status name = CheckBranchName(branch); !name.ok()) return name;
  const std::string upstream = absl::StrCat("origin/", branch);
  const std::vector<std::string> fetch = {"fetch", "--progress", "origin"};
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("git ", absl::StrJoin(fetch, " ")));
  absl::StatusOr<GitResult> fetched = RunNetwork(options_.root, fetch, &op);
  if (!fetched.ok()) return fetched.status();
  if (!fetched->ok()) {
    if (RemoteUnreachable(*fetched)) return Unreachable(*fetched, "sync", "origin");
    return GitRunner::Failure(options_.root, fetch, *fetched);
  }
  absl::StatusOr<std::string> target = Git(
      {"rev-parse", "--verify", "--quiet", absl::StrCat("refs/remotes/", upstream, "^{commit}")});
  if (!target.ok()) {
    return WithMetadata(
        WithReason(WithHint(absl::NotFoundError(absl::StrCat("origin has no branch ", branch)),
                            absl::StrCat("`git -C ", options_.root.string(),
                                         " branch -r` lists origin's branches")),
                   reasons::kBranchNotFound),
        metadata::kBranch, branch);
  }
  absl::StatusOr<WorktreeStatus> before = WorktreeOf(options_.root);
  if (!before.ok()) return before.status();
  absl::StatusOr<std::vector<v1::Submodule>> submodules = Submodules();
  if (!submodules.ok()) return submodules.status();
  absl::StatusOr<std::vector<PathInTheWay>> in_the_way =
      CheckMove(runner_, options_.root, protected_.In(options_.root), *target, upstream);
  if (!in_the_way.ok()) return in_the_way.status();

  v1::GitSyncResult result;
  result.set_preview(preview);
  result.set_upstream(upstream);
  result.set_old_sha(before->head_sha);
  result.set_new_sha(*target);
  for (const ChangedPath& change : before->changes) {
    if (change.status != "??") *result.add_discarded_changes() = ToChangedFile(change);
  }
  for (const PathInTheWay& path : *in_the_way) {
    v1::PathInTheWay* replaced = result.add_untracked_replaced();
    replaced->set_path(path.path);
    replaced->set_upstream_path(path.upstream_path);
  }
  if (!before->head_sha.empty()) {
    absl::StatusOr<std::string> local =
        Git({"log", "--format=%H%x1f%s", absl::StrCat(*target, "..HEAD"), "--"});
    if (!local.ok()) return local.status();
    for (const LoggedCommit& commit : ParseLog(*local)) {
      *result.add_discarded_commits() = ToCommit(commit);
    }
  }
  if (preview) {
    // Where the submodules would go: what the target commit records for them.
    std::vector<std::string> args = {"ls-tree", *target, "--"};
    for (const v1::Submodule& submodule : *submodules) args.push_back(submodule.path());
    absl::StatusOr<std::string> tree = Git(args);
    if (!tree.ok()) return tree.status();
    const std::map<std::string, std::string> recorded = ParseGitlinks(*tree);
    for (const v1::Submodule& submodule : *submodules) {
      auto it = recorded.find(submodule.path());
      if (it == recorded.end() || it->second == submodule.checked_out_sha()) continue;
      v1::SubmoduleMove* move = result.add_submodules_moved();
      move->set_name(submodule.name());
      move->set_old_sha(submodule.checked_out_sha());
      move->set_new_sha(it->second);
    }
    return result;
  }
  for (const PathInTheWay& path : *in_the_way) {
    op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("replacing untracked ", path.path, " with ",
                                                   upstream, "'s ", path.upstream_path));
  }
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"reset", "--hard", *target},
        std::vector<std::string>{"submodule", "sync", "--recursive"}}) {
    op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("git ", absl::StrJoin(args, " ")));
    if (absl::StatusOr<std::string> done = Git(args); !done.ok()) return done.status();
  }
  const std::vector<std::string> update = {"submodule",   "update",  "--init",
                                           "--recursive", "--force", "--progress"};
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("git ", absl::StrJoin(update, " ")));
  absl::StatusOr<GitResult> updated = RunNetwork(options_.root, update, &op);
  if (!updated.ok()) return updated.status();
  if (!updated->ok()) {
    if (RemoteUnreachable(*updated)) {
      return Unreachable(*updated, "update the submodules after the reset", "a submodule's remote");
    }
    return GitRunner::Failure(options_.root, update, *updated);
  }
  absl::StatusOr<std::vector<v1::Submodule>> after = Submodules();
  if (!after.ok()) return after.status();
  for (const v1::Submodule& now : *after) {
    for (const v1::Submodule& then : *submodules) {
      if (then.name() != now.name() || then.checked_out_sha() == now.checked_out_sha()) continue;
      v1::SubmoduleMove* move = result.add_submodules_moved();
      move->set_name(now.name());
      move->set_old_sha(then.checked_out_sha());
      move->set_new_sha(now.checked_out_sha());
    }
  }
  return result;
}

absl::StatusOr<v1::ResetSubmoduleResponse> GitRepo::ResetSubmodule(const std::string& name) const {
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::StatusOr<v1::Submodule> submodule = Find(name);
  if (!submodule.ok()) return submodule.status();
  if (absl::Status held = CheckHoldsNothingProtected(*submodule); !held.ok()) return held;
  if (submodule->missing()) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " is declared in .gitmodules, but the checkout records no commit to reset it to"));
  }
  v1::ResetSubmoduleResponse response;
  response.set_previous_sha(submodule->checked_out_sha());
  const fs::path dir = options_.root / submodule->path();
  if (submodule->initialized()) {
    absl::StatusOr<WorktreeStatus> worktree = WorktreeOf(dir);
    if (!worktree.ok()) return worktree.status();
    for (const ChangedPath& change : worktree->changes) {
      *response.add_discarded_changes() = ToChangedFile(change);
    }
    // Untracked files first (ignored ones stay), then the recorded commit over tracked changes.
    if (absl::StatusOr<std::string> cleaned = runner_.Output(dir, {"clean", "-f", "-d"});
        !cleaned.ok()) {
      return cleaned.status();
    }
  }
  const std::vector<std::string> args = {"submodule", "update", "--init",
                                         "--force",   "--",     submodule->path()};
  absl::StatusOr<GitResult> updated = RunNetwork(options_.root, args, nullptr);
  if (!updated.ok()) return updated.status();
  if (!updated->ok()) {
    if (RemoteUnreachable(*updated))
      return Unreachable(*updated, "reset " + name, submodule->url());
    return GitRunner::Failure(options_.root, args, *updated);
  }
  absl::StatusOr<v1::Submodule> after = Find(name);
  if (!after.ok()) return after.status();
  *response.mutable_submodule() = std::move(*after);
  return response;
}

absl::StatusOr<v1::Submodule> GitRepo::SwitchSubmoduleBranch(const std::string& name,
                                                             const std::string& requested) const {
  std::lock_guard<std::mutex> lock(write_mu_);
  absl::StatusOr<v1::Submodule> submodule = Find(name);
  if (!submodule.ok()) return submodule.status();
  if (absl::Status held = CheckHoldsNothingProtected(*submodule); !held.ok()) return held;
  if (!requested.empty()) {
    if (absl::Status valid = CheckBranchName(requested); !valid.ok()) return valid;
  }
  if (submodule->missing()) {
    return absl::FailedPreconditionError(absl::StrCat(
        name, " is declared in .gitmodules, but the checkout records no commit for it"));
  }
  const fs::path dir = options_.root / submodule->path();
  if (!submodule->initialized()) {
    const std::vector<std::string> init = {"submodule", "update", "--init", "--",
                                           submodule->path()};
    absl::StatusOr<GitResult> done = RunNetwork(options_.root, init, nullptr);
    if (!done.ok()) return done.status();
    if (!done->ok()) {
      if (RemoteUnreachable(*done))
        return Unreachable(*done, "initialize " + name, submodule->url());
      return GitRunner::Failure(options_.root, init, *done);
    }
  } else if (submodule->dirty()) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(absl::StrCat(
                     name, " has uncommitted changes; switching its branch could lose them")),
                 absl::StrCat("commit or stash them in ", dir.string(),
                              ", or `llorch-pool git submodules reset --name ", name,
                              "` to discard them")),
        reasons::kLocalChanges);
  }
  std::string branch = requested.empty() ? submodule->configured_branch() : requested;
  if (branch.empty()) {  // the remote's default branch
    absl::StatusOr<GitResult> head =
        RunNetwork(dir, {"ls-remote", "--symref", "origin", "HEAD"}, nullptr);
    if (!head.ok()) return head.status();
    if (!head->ok())
      return Unreachable(*head, "find the default branch of " + name, submodule->url());
    for (absl::string_view line : absl::StrSplit(head->out, '\n')) {
      if (absl::ConsumePrefix(&line, "ref: refs/heads/")) {
        branch = std::string(line.substr(0, line.find('\t')));
      }
    }
    if (branch.empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "the remote of ", name, " names no default branch: say which with --branch"));
    }
  }
  const std::vector<std::string> fetch = {
      "fetch", "origin", absl::StrCat("+refs/heads/", branch, ":refs/remotes/origin/", branch)};
  absl::StatusOr<GitResult> fetched = RunNetwork(dir, fetch, nullptr);
  if (!fetched.ok()) return fetched.status();
  if (!fetched->ok()) {
    for (const std::string& line : fetched->err) {
      if (absl::StrContains(line, "couldn't find remote ref")) {
        return WithMetadata(
            WithReason(WithHint(absl::NotFoundError(absl::StrCat("the remote of ", name, " (",
                                                                 submodule->url(),
                                                                 ") has no branch ", branch)),
                                absl::StrCat("`git -C ", dir.string(),
                                             " ls-remote --heads origin` lists its branches")),
                       reasons::kBranchNotFound),
            metadata::kBranch, branch);
      }
    }
    if (RemoteUnreachable(*fetched))
      return Unreachable(*fetched, "fetch " + branch, submodule->url());
    return GitRunner::Failure(dir, fetch, *fetched);
  }
  // An existing local branch is kept as it is (its own commits too); otherwise one is made to
  // track origin's.
  const bool local_exists =
      runner_.Run(dir, {"rev-parse", "--verify", "--quiet", absl::StrCat("refs/heads/", branch)})
          .value_or(GitResult())
          .ok();
  const std::vector<std::string> checkout =
      local_exists
          ? std::vector<std::string>{"checkout", branch, "--"}
          : std::vector<std::string>{
                "checkout", "-b", branch, "--track", absl::StrCat("origin/", branch), "--"};
  if (absl::StatusOr<std::string> done = runner_.Output(dir, checkout); !done.ok()) {
    return done.status();
  }
  return Find(name);
}

absl::StatusOr<v1::CleanResponse> GitRepo::Clean(bool dry_run) const {
  std::lock_guard<std::mutex> lock(write_mu_);
  if (absl::Status repo = CheckRepo(); !repo.ok()) return repo;
  return CleanWorktree(runner_, options_.root, protected_.In(options_.root), dry_run);
}

}  // namespace llorch
