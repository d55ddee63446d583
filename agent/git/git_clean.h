// `git clean -d` of a work tree that never removes a protected directory (protected_paths.h),
// ignored files kept as git keeps them.
//
// The protected directories reach git as literal pathspecs (`:(exclude,literal,top)<path>`), so
// no name is read as a pattern. An untracked directory that git would remove whole although a
// protected directory lies below it is cleaned entry by entry around it. The dry run and the
// real run are the same git runs but for -n / -f, and git's listing is read back unquoted, so a
// dry run lists exactly what a real run at that moment removes. A protected directory that is
// the work tree or holds it refuses the clean (FAILED_PRECONDITION, reason PROTECTED_PATH).
#ifndef LLORCH_AGENT_GIT_GIT_CLEAN_H_
#define LLORCH_AGENT_GIT_GIT_CLEAN_H_

#include <filesystem>

#include "absl/status/statusor.h"
#include "agent/git/git_runner.h"
#include "agent/git/protected_paths.h"
#include "llorch/pool/v1/git.pb.h"

namespace llorch {

// Cleans (or, with dry_run, lists) the work tree at `dir`. CleanResponse.kept names the
// protected directories git would otherwise have removed.
absl::StatusOr<pool::v1::CleanResponse> CleanWorktree(const GitRunner& git,
                                                      const std::filesystem::path& dir,
                                                      const ProtectedLayout& layout, bool dry_run);

}  // namespace llorch

#endif  // LLORCH_AGENT_GIT_GIT_CLEAN_H_
