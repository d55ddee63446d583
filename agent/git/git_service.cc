#include "agent/git/git_service.h"

#include "agent/server/grpc_status.h"

namespace llorch {
namespace v1 = pool::v1;

grpc::Status GitServiceImpl::GetStatus(grpc::ServerContext*, const v1::GetStatusRequest*,
                                       v1::GitStatus*) {
  return NotAvailableYet("git status");
}

grpc::Status GitServiceImpl::Pull(grpc::ServerContext*, const v1::PullRequest*,
                                  grpc::ServerWriter<v1::OperationEvent>*) {
  return NotAvailableYet("git pull");
}

grpc::Status GitServiceImpl::Sync(grpc::ServerContext*, const v1::SyncRequest*,
                                  grpc::ServerWriter<v1::OperationEvent>*) {
  return NotAvailableYet("git sync");
}

grpc::Status GitServiceImpl::ListSubmodules(grpc::ServerContext*, const v1::ListSubmodulesRequest*,
                                            v1::ListSubmodulesResponse*) {
  return NotAvailableYet("git submodules list");
}

grpc::Status GitServiceImpl::GetSubmoduleStatus(grpc::ServerContext*,
                                                const v1::GetSubmoduleStatusRequest*,
                                                v1::Submodule*) {
  return NotAvailableYet("git submodules status");
}

grpc::Status GitServiceImpl::UpdateSubmodules(grpc::ServerContext*,
                                              const v1::UpdateSubmodulesRequest*,
                                              grpc::ServerWriter<v1::OperationEvent>*) {
  return NotAvailableYet("git submodules update");
}

grpc::Status GitServiceImpl::ResetSubmodule(grpc::ServerContext*, const v1::ResetSubmoduleRequest*,
                                            v1::ResetSubmoduleResponse*) {
  return NotAvailableYet("git submodules reset");
}

grpc::Status GitServiceImpl::SwitchSubmoduleBranch(grpc::ServerContext*,
                                                   const v1::SwitchSubmoduleBranchRequest*,
                                                   v1::Submodule*) {
  return NotAvailableYet("git submodules branch");
}

grpc::Status GitServiceImpl::Clean(grpc::ServerContext*, const v1::CleanRequest*,
                                   v1::CleanResponse*) {
  return NotAvailableYet("git clean");
}

}  // namespace llorch
