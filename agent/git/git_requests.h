// What GitService accepts, as git.proto says, checked before git runs: the rules of every request
// (agent/rpc/request_rules.h), then the fields each RPC requires, submodule names of a form git
// accepts (no ".." component), UpdateSubmodules' `names` or `all`, not both, and branch names
// through `repo.CheckBranchName` (INVALID_ARGUMENT, reason BAD_BRANCH_NAME, metadata "field").
// Whether a submodule or branch exists is the domain's to say (NOT_FOUND), after these.
#ifndef LLORCH_AGENT_GIT_GIT_REQUESTS_H_
#define LLORCH_AGENT_GIT_GIT_REQUESTS_H_

#include "absl/status/status.h"
#include "agent/git/git_repo.h"
#include "llorch/pool/v1/git.pb.h"

namespace llorch {

absl::Status Validate(const pool::v1::SyncRequest& request, const GitRepo& repo);
absl::Status Validate(const pool::v1::GetSubmoduleStatusRequest& request);
absl::Status Validate(const pool::v1::UpdateSubmodulesRequest& request);
absl::Status Validate(const pool::v1::ResetSubmoduleRequest& request);
absl::Status Validate(const pool::v1::SwitchSubmoduleBranchRequest& request, const GitRepo& repo);

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_GIT_REQUESTS_H_
