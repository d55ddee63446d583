#include "agent/git/git_requests.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/rpc/request_rules.h"
#include "common/error_metadata.h"
#include "common/status.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

constexpr char kSubmodulesHint[] = "`llorch-pool git submodules list` shows the submodule names";

// Git refuses a submodule name with a ".." component (it would lead out of .git/modules/).
absl::Status CheckSubmoduleName(const std::string& field, const std::string& name) {
  if (absl::Status present = CheckPresent(field, name, kSubmodulesHint); !present.ok()) {
    return present;
  }
  for (absl::string_view part : absl::StrSplit(name, absl::ByAnyChar("/\\"))) {
    if (part == "..") {
      return InvalidField(field,
                          absl::StrCat(ShowValue(name),
                                       " is not a submodule name: it has a "
                                       "'..' component"),
                          kSubmodulesHint);
    }
  }
  return absl::OkStatus();
}

// An empty branch means the default; any other must be a valid branch name.
absl::Status CheckBranch(const std::string& branch, const GitRepo& repo) {
  if (branch.empty()) return absl::OkStatus();
  return WithMetadata(repo.CheckBranchName(branch), metadata::kField, "branch");
}

}  // namespace

absl::Status Validate(const v1::SyncRequest& request, const GitRepo& repo) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckBranch(request.branch(), repo);
}

absl::Status Validate(const v1::GetSubmoduleStatusRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckSubmoduleName("name", request.name());
}

absl::Status Validate(const v1::UpdateSubmodulesRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (absl::Status which = CheckListOrAll("names", request.names_size(), "all", request.all(),
                                          "name the submodules to update, or set all");
      !which.ok()) {
    return which;
  }
  for (int i = 0; i < request.names_size(); ++i) {
    if (absl::Status name = CheckSubmoduleName(FieldAt("names", i), request.names(i)); !name.ok()) {
      return name;
    }
  }
  return absl::OkStatus();
}

absl::Status Validate(const v1::ResetSubmoduleRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckSubmoduleName("name", request.name());
}

absl::Status Validate(const v1::SwitchSubmoduleBranchRequest& request, const GitRepo& repo) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (absl::Status name = CheckSubmoduleName("name", request.name()); !name.ok()) return name;
  return CheckBranch(request.branch(), repo);
}

}  // namespace llorch
