// `llorch-pool git ...`: the repository checkout and its submodules.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/confirm.h"
#include "client/operation_stream.h"
#include "client/render/git_views.h"
#include "client/render/visible.h"
#include "client/unary_call.h"
#include "common/units.h"
#include "llorch/pool/v1/git.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;
using Stub = v1::GitService::Stub;

// `git sync`: fetch and show what would be lost, ask unless --force (or nothing would be lost),
// then sync.
int RunSync(Session& session, const std::string& branch, bool force) {
  v1::SyncRequest request;
  request.set_branch(branch);
  if (!force) {
    if (std::optional<int> refused = RefuseUnworkableDetach(session)) return *refused;
    request.set_preview_only(true);
    v1::GitSyncResult preview;
    // Followed, not run: the preview is no result of the command (-o json prints the sync's).
    const OperationOutcome previewed =
        FollowOperation<v1::GitService>(session, &Stub::Sync, request);
    if (previewed.interrupted) return kExitInterrupted;
    if (previewed.error) return ReportError(*previewed.error, session.err_style());
    if (!previewed.result || !previewed.result->UnpackTo(&preview)) return kExitFailed;
    if (!SyncLosesNothing(preview)) {
      std::fputs(RenderVisible(RenderSyncResult, preview, session.err_style()).c_str(), stderr);
      absl::StatusOr<bool> yes =
          Confirm(absl::StrCat("Discard this and reset to ", preview.upstream(), "?"),
                  absl::StrCat("discard local work and reset to ", preview.upstream()),
                  "llorch-pool git sync --force");
      if (!yes.ok()) return session.Fail(yes.status());
      if (!*yes) {
        std::fputs("Nothing changed.\n", stderr);
        return kExitFailed;
      }
    }
    request.set_preview_only(false);
  }
  return RunOperation<v1::GitService>(session, &Stub::Sync, request);
}

// `git clean`: list what would go, ask unless --force, then clean. --dry-run only lists.
int RunClean(Session& session, bool dry_run, bool force) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  auto stub = v1::GitService::NewStub(*channel);
  v1::CleanRequest request;
  request.set_dry_run(true);
  v1::CleanResponse plan;
  if (grpc::Status status = stub->Clean(session.NewCallContext().get(), request, &plan);
      !status.ok()) {
    return session.Fail(status);
  }
  if (dry_run || plan.removed().empty()) {
    PrintResponse(session, plan, Renderer<v1::CleanResponse>(RenderClean));
    return kExitOk;
  }
  if (!force) {
    std::fputs(RenderVisible(RenderClean, plan, session.err_style()).c_str(), stderr);
    absl::StatusOr<bool> yes =
        Confirm(absl::StrCat("Remove these ", Plural(plan.removed_size(), "untracked path"), "?"),
                absl::StrCat("remove ", Plural(plan.removed_size(), "untracked path")),
                "llorch-pool git clean --force");
    if (!yes.ok()) return session.Fail(yes.status());
    if (!*yes) {
      std::fputs("Nothing removed.\n", stderr);
      return kExitFailed;
    }
  }
  request.set_dry_run(false);
  v1::CleanResponse cleaned;
  if (grpc::Status status = stub->Clean(session.NewCallContext().get(), request, &cleaned);
      !status.ok()) {
    return session.Fail(status);
  }
  PrintResponse(session, cleaned, Renderer<v1::CleanResponse>(RenderClean));
  return kExitOk;
}

}  // namespace

void AddGitCommands(CommandLine& cli) {
  CLI::App* git = cli.AddGroup(&cli.app(), "git", "The repository checkout and its submodules",
                               "  llorch-pool git status\n"
                               "  llorch-pool git pull\n"
                               "  llorch-pool git submodules list\n");

  auto verbose_files = std::make_shared<bool>(false);
  CLI::App* status = cli.AddCommand(
      git, "status", "Branch, HEAD, upstream, changes, submodules and the Rust toolchain",
      "  llorch-pool git status\n  llorch-pool git status --files\n", [verbose_files](Session& s) {
        v1::GetStatusRequest request;
        request.set_include_files(*verbose_files || s.verbosity() > 0);
        return CallUnary<v1::GitService>(s, &Stub::GetStatus, request,
                                         Renderer<v1::GitStatus>(RenderGitStatus));
      });
  status->add_flag("--files", *verbose_files, "List the changed files, not just counts");

  auto pull_mode = std::make_shared<std::string>();
  CLI::App* pull = cli.AddCommand(
      git, "pull", "Pull from origin and update submodules recursively",
      "  llorch-pool git pull\n  llorch-pool git pull --mode ff-only\n"
      "  llorch-pool git pull --detach   returns the operation id at once (needs pool-agent)\n",
      [pull_mode](Session& s) {
        v1::PullRequest request;
        if (*pull_mode == "rebase") request.set_mode(v1::PULL_MODE_REBASE);
        if (*pull_mode == "ff-only") request.set_mode(v1::PULL_MODE_FF_ONLY);
        if (*pull_mode == "merge") request.set_mode(v1::PULL_MODE_MERGE);
        return RunOperation<v1::GitService>(s, &v1::GitService::Stub::Pull, request);
      });
  cli.AllowDetach(pull);
  pull->add_option("--mode", *pull_mode, "rebase (default), ff-only or merge")
      ->check(CLI::IsMember({"rebase", "ff-only", "merge"}));

  auto sync_force = std::make_shared<bool>(false);
  auto sync_branch = std::make_shared<std::string>();
  CLI::App* sync = cli.AddCommand(
      git, "sync", "Hard reset to origin/<branch> and update submodules (asks first)",
      "  llorch-pool git sync\n  llorch-pool git sync --force --branch main\n",
      [sync_force, sync_branch](Session& s) { return RunSync(s, *sync_branch, *sync_force); });
  sync->add_flag("--force", *sync_force, "Do not ask for confirmation");
  cli.AllowDetach(sync);
  sync->add_option("--branch", *sync_branch, "Branch to reset to (default: git.sync_branch, main)");

  auto clean_dry_run = std::make_shared<bool>(false);
  auto clean_force = std::make_shared<bool>(false);
  CLI::App* clean =
      cli.AddCommand(git, "clean", "Remove untracked files (never the models or state directories)",
                     "  llorch-pool git clean --dry-run\n  llorch-pool git clean --force\n",
                     [clean_dry_run, clean_force](Session& s) {
                       return RunClean(s, *clean_dry_run, *clean_force);
                     });
  clean->add_flag("--dry-run", *clean_dry_run, "Only list what would be removed");
  clean->add_flag("--force", *clean_force, "Do not ask for confirmation");

  CLI::App* submodules = cli.AddGroup(git, "submodules", "Submodules declared in .gitmodules",
                                      "  llorch-pool git submodules list\n"
                                      "  llorch-pool git submodules update --all\n"
                                      "  llorch-pool git submodules branch --name reference/candle "
                                      "--branch metal-fixes\n");
  cli.AddCommand(submodules, "list", "Every submodule with its status",
                 "  llorch-pool git submodules list\n", [](Session& s) {
                   return CallUnary<v1::GitService>(
                       s, &Stub::ListSubmodules, v1::ListSubmodulesRequest(),
                       Renderer<v1::ListSubmodulesResponse>(RenderSubmodules));
                 });

  auto status_name = std::make_shared<std::string>();
  CLI::App* sub_status = cli.AddCommand(
      submodules, "status", "Every submodule's status, or one submodule's in full",
      "  llorch-pool git submodules status\n"
      "  llorch-pool git submodules status --name reference/llama.cpp\n",
      [status_name](Session& s) {
        if (status_name->empty()) {
          return CallUnary<v1::GitService>(s, &Stub::ListSubmodules, v1::ListSubmodulesRequest(),
                                           Renderer<v1::ListSubmodulesResponse>(RenderSubmodules));
        }
        v1::GetSubmoduleStatusRequest request;
        request.set_name(*status_name);
        return CallUnary<v1::GitService>(s, &Stub::GetSubmoduleStatus, request,
                                         Renderer<v1::Submodule>(RenderSubmodule));
      });
  sub_status->add_option("--name", *status_name, "Submodule name in .gitmodules (default: all)");

  auto update_names = std::make_shared<std::vector<std::string>>();
  auto update_all = std::make_shared<bool>(false);
  auto update_remote = std::make_shared<bool>(false);
  auto update_force = std::make_shared<bool>(false);
  CLI::App* update = cli.AddCommand(
      submodules, "update", "Update one or all submodules",
      "  llorch-pool git submodules update --all\n"
      "  llorch-pool git submodules update --name reference/llama.cpp --remote\n",
      [update_names, update_all, update_remote, update_force](Session& s) {
        if (update_names->empty() && !*update_all) {
          return s.Fail(absl::InvalidArgumentError("say which submodules: --all or --name NAME"));
        }
        v1::UpdateSubmodulesRequest request;
        for (const std::string& name : *update_names) request.add_names(name);
        request.set_all(*update_all);
        request.set_remote(*update_remote);
        request.set_force(*update_force);
        return RunOperation<v1::GitService>(s, &v1::GitService::Stub::UpdateSubmodules, request);
      });
  CLI::Option* all = update->add_flag("--all", *update_all, "Update every submodule");
  CLI::Option* name =
      update->add_option("--name", *update_names, "Submodule to update (repeatable)");
  all->excludes(name);
  update->add_flag("--remote", *update_remote, "Move to the remote branch tip");
  cli.AllowDetach(update);
  update->add_flag("--force", *update_force, "Also update submodules put on a branch");

  auto reset_name = std::make_shared<std::string>();
  CLI::App* reset = cli.AddCommand(
      submodules, "reset", "Return a submodule to the commit the checkout records",
      "  llorch-pool git submodules reset --name reference/candle\n", [reset_name](Session& s) {
        v1::ResetSubmoduleRequest request;
        request.set_name(*reset_name);
        return CallUnary<v1::GitService>(
            s, &Stub::ResetSubmodule, request,
            Renderer<v1::ResetSubmoduleResponse>(RenderSubmoduleReset));
      });
  reset->add_option("--name", *reset_name, "Submodule name in .gitmodules")->required();

  auto branch_name = std::make_shared<std::string>();
  auto branch = std::make_shared<std::string>();
  CLI::App* branch_cmd =
      cli.AddCommand(submodules, "branch", "Check out a branch in a submodule (fetching it first)",
                     "  llorch-pool git submodules branch --name reference/candle --branch "
                     "llorch/metal-bugfixes\n",
                     [branch_name, branch](Session& s) {
                       v1::SwitchSubmoduleBranchRequest request;
                       request.set_name(*branch_name);
                       request.set_branch(*branch);
                       return CallUnary<v1::GitService>(s, &Stub::SwitchSubmoduleBranch, request,
                                                        Renderer<v1::Submodule>(RenderSubmodule));
                     });
  branch_cmd->add_option("--name", *branch_name, "Submodule name in .gitmodules")->required();
  branch_cmd->add_option("--branch", *branch, "Branch (default: the one .gitmodules names)");
}

}  // namespace llorch
