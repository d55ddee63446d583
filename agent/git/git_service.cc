#include "agent/git/git_service.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/git/git_requests.h"
#include "agent/ops/operation_stream.h"
#include "agent/rpc/grpc_status.h"
#include "agent/rpc/request_rules.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

// The result of `work` as the end of `op`.
template <typename Result>
void Finish(Operation& op, absl::StatusOr<Result> result) {
  if (result.ok()) {
    op.Succeed(*result);
  } else {
    op.Fail(result.status());
  }
}

template <typename Response>
grpc::Status Reply(absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace

GitRepoOptions GitRepoOptionsFor(const Config& config, const std::filesystem::path& repo_root,
                                 const std::filesystem::path& models_dir,
                                 const std::filesystem::path& state_dir) {
  GitRepoOptions options;
  options.root = repo_root;
  options.pull_mode = PullModeFromConfig(config.git.pull_mode);
  options.sync_branch = config.git.sync_branch;
  options.protected_dirs = {{"the models directory", models_dir},
                            {"the agent's state directory", state_dir}};
  return options;
}

GitServiceImpl::GitServiceImpl(const GitRepoOptions& options,
                               std::shared_ptr<OperationRegistry> operations)
    : operations_(std::move(operations)), repo_(std::make_shared<const GitRepo>(options)) {}

grpc::Status GitServiceImpl::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest* request,
                                       v1::GitStatus* response) {
  if (absl::Status valid = CheckRequestRules(*request); !valid.ok()) return ToGrpcStatus(valid);
  return Reply(repo_->Status(request->include_files()), response);
}

grpc::Status GitServiceImpl::Pull(grpc::ServerContext* server_context,
                                  const v1::PullRequest* request,
                                  grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = CheckRequestRules(*request); !valid.ok()) return ToGrpcStatus(valid);
  if (absl::Status repo = repo_->CheckRepo(); !repo.ok()) return ToGrpcStatus(repo);
  return StartAndStream(
      *operations_, *request, "git.pull", "", /*join_key=*/"git.pull",
      [repo = repo_, mode = request->mode()](Operation& op) { Finish(op, repo->Pull(mode, op)); },
      server_context, writer);
}

grpc::Status GitServiceImpl::Sync(grpc::ServerContext* server_context,
                                  const v1::SyncRequest* request,
                                  grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request, *repo_); !valid.ok()) return ToGrpcStatus(valid);
  if (absl::Status repo = repo_->CheckRepo(); !repo.ok()) return ToGrpcStatus(repo);
  return StartAndStream(
      *operations_, *request, "git.sync", request->branch(),
      absl::StrCat("git.sync:", request->branch(), request->preview_only() ? ":preview" : ""),
      [repo = repo_, branch = request->branch(), preview = request->preview_only()](Operation& op) {
        Finish(op, repo->Sync(branch, preview, op));
      },
      server_context, writer);
}

grpc::Status GitServiceImpl::ListSubmodules(grpc::ServerContext*,
                                            const v1::ListSubmodulesRequest* request,
                                            v1::ListSubmodulesResponse* response) {
  if (absl::Status valid = CheckRequestRules(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<std::vector<v1::Submodule>> submodules = repo_->Submodules();
  if (!submodules.ok()) return ToGrpcStatus(submodules.status());
  for (v1::Submodule& submodule : *submodules) *response->add_submodules() = std::move(submodule);
  return grpc::Status::OK;
}

grpc::Status GitServiceImpl::GetSubmoduleStatus(grpc::ServerContext*,
                                                const v1::GetSubmoduleStatusRequest* request,
                                                v1::Submodule* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  return Reply(repo_->Submodule(request->name()), response);
}

grpc::Status GitServiceImpl::UpdateSubmodules(grpc::ServerContext* server_context,
                                              const v1::UpdateSubmodulesRequest* request,
                                              grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  const std::vector<std::string> names(request->names().begin(), request->names().end());
  if (absl::Status check = repo_->CheckSubmoduleNames(names); !check.ok()) {
    return ToGrpcStatus(check);
  }
  const std::string target = absl::StrJoin(names, ",");
  return StartAndStream(
      *operations_, *request, "git.submodules.update", target,
      absl::StrCat("git.submodules.update:", target, request->remote() ? ":remote" : "",
                   request->force() ? ":force" : ""),
      [repo = repo_, names, remote = request->remote(), force = request->force()](Operation& op) {
        Finish(op, repo->UpdateSubmodules(names, remote, force, op));
      },
      server_context, writer);
}

grpc::Status GitServiceImpl::ResetSubmodule(grpc::ServerContext*,
                                            const v1::ResetSubmoduleRequest* request,
                                            v1::ResetSubmoduleResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  return Reply(repo_->ResetSubmodule(request->name()), response);
}

grpc::Status GitServiceImpl::SwitchSubmoduleBranch(grpc::ServerContext*,
                                                   const v1::SwitchSubmoduleBranchRequest* request,
                                                   v1::Submodule* response) {
  if (absl::Status valid = Validate(*request, *repo_); !valid.ok()) return ToGrpcStatus(valid);
  return Reply(repo_->SwitchSubmoduleBranch(request->name(), request->branch()), response);
}

grpc::Status GitServiceImpl::Clean(grpc::ServerContext*, const v1::CleanRequest* request,
                                   v1::CleanResponse* response) {
  if (absl::Status valid = CheckRequestRules(*request); !valid.ok()) return ToGrpcStatus(valid);
  return Reply(repo_->Clean(request->dry_run()), response);
}

}  // namespace llorch
