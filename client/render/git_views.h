// Table renderings of GitService responses and results for `llorch-pool git ...`.
#ifndef LLORCH_CLIENT_RENDER_GIT_VIEWS_H_
#define LLORCH_CLIENT_RENDER_GIT_VIEWS_H_

#include <string>

#include "client/render/style.h"
#include "llorch/pool/v1/git.pb.h"

namespace llorch {

// Branch or "detached at", HEAD, upstream with ahead/behind, change counts (and the files when
// the status has them), every submodule, the Rust toolchain.
std::string RenderGitStatus(const pool::v1::GitStatus& status, const Style& style);
std::string RenderSubmodules(const pool::v1::ListSubmodulesResponse& response, const Style& style);
std::string RenderSubmodule(const pool::v1::Submodule& submodule, const Style& style);
// old..new, the commits pulled, files changed, submodules moved.
std::string RenderPullResult(const pool::v1::GitPullResult& result, const Style& style);
// What a sync discards (preview: would discard: tracked changes, local commits, untracked paths
// the upstream replaces) and where it leaves HEAD and the submodules.
std::string RenderSyncResult(const pool::v1::GitSyncResult& result, const Style& style);
std::string RenderSubmoduleUpdate(const pool::v1::SubmoduleUpdateResult& result,
                                  const Style& style);
std::string RenderSubmoduleReset(const pool::v1::ResetSubmoduleResponse& response,
                                 const Style& style);
std::string RenderClean(const pool::v1::CleanResponse& response, const Style& style);

// True when a sync preview shows nothing that the sync would discard (untracked paths in the way
// count).
bool SyncLosesNothing(const pool::v1::GitSyncResult& result);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_GIT_VIEWS_H_
