// GitService: the gRPC adapter over GitRepo (git_repo.h). Thin: it validates the request
// (git_requests.h) and what can be checked before an operation exists (checkout, submodule
// names), starts the long commands
// as operations, and translates results and errors.
#ifndef LLORCH_AGENT_GIT_GIT_SERVICE_H_
#define LLORCH_AGENT_GIT_GIT_SERVICE_H_

#include <filesystem>
#include <memory>

#include "agent/git/git_repo.h"
#include "agent/ops/operation_registry.h"
#include "common/config.h"
#include "llorch/pool/v1/git.grpc.pb.h"

namespace llorch {

// The repository options from the agent's configuration: its checkout (`repo_root`), pull mode
// and sync branch, and the models and state directories that no git command may replace or
// remove.
GitRepoOptions GitRepoOptionsFor(const Config& config, const std::filesystem::path& repo_root,
                                 const std::filesystem::path& models_dir,
                                 const std::filesystem::path& state_dir);

class GitServiceImpl final : public pool::v1::GitService::Service {
 public:
  GitServiceImpl(const GitRepoOptions& options, std::shared_ptr<OperationRegistry> operations);

  // The checkout the service works on, for other domains' work on it (the set-up's submodules):
  // one GitRepo, so its changing commands run one at a time.
  std::shared_ptr<const GitRepo> repo() const { return repo_; }

  grpc::Status GetStatus(grpc::ServerContext*, const pool::v1::GetStatusRequest*,
                         pool::v1::GitStatus*) override;
  grpc::Status Pull(grpc::ServerContext*, const pool::v1::PullRequest*,
                    grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status Sync(grpc::ServerContext*, const pool::v1::SyncRequest*,
                    grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status ListSubmodules(grpc::ServerContext*, const pool::v1::ListSubmodulesRequest*,
                              pool::v1::ListSubmodulesResponse*) override;
  grpc::Status GetSubmoduleStatus(grpc::ServerContext*, const pool::v1::GetSubmoduleStatusRequest*,
                                  pool::v1::Submodule*) override;
  grpc::Status UpdateSubmodules(grpc::ServerContext*, const pool::v1::UpdateSubmodulesRequest*,
                                grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status ResetSubmodule(grpc::ServerContext*, const pool::v1::ResetSubmoduleRequest*,
                              pool::v1::ResetSubmoduleResponse*) override;
  grpc::Status SwitchSubmoduleBranch(grpc::ServerContext*,
                                     const pool::v1::SwitchSubmoduleBranchRequest*,
                                     pool::v1::Submodule*) override;
  grpc::Status Clean(grpc::ServerContext*, const pool::v1::CleanRequest*,
                     pool::v1::CleanResponse*) override;

 private:
  std::shared_ptr<OperationRegistry> operations_;
  std::shared_ptr<const GitRepo> repo_;  // shared with the operations' threads
};

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_GIT_SERVICE_H_
