// GitService: the repository checkout and its submodules. Part of the v1 API now; every RPC answers
// UNIMPLEMENTED naming its command until the release that delivers it.
#ifndef LLORCH_AGENT_GIT_GIT_SERVICE_H_
#define LLORCH_AGENT_GIT_GIT_SERVICE_H_

#include <memory>

#include "agent/server/agent_context.h"
#include "llorch/pool/v1/git.grpc.pb.h"

namespace llorch {

class GitServiceImpl final : public pool::v1::GitService::Service {
 public:
  explicit GitServiceImpl(std::shared_ptr<const AgentContext> context)
      : context_(std::move(context)) {}

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
  std::shared_ptr<const AgentContext> context_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_GIT_SERVICE_H_
