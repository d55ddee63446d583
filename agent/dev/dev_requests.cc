#include "agent/dev/dev_requests.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/dev/doctor.h"
#include "agent/rpc/request_rules.h"
#include "common/error_metadata.h"
#include "common/status.h"
#include "common/strings.h"

namespace llorch {

absl::Status Validate(const pool::v1::RunDoctorRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  const std::vector<std::string>& known = DoctorCheckNames();
  for (int i = 0; i < request.names_size(); ++i) {
    const std::string& name = request.names(i);
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    const std::vector<std::string> suggestions = ClosestMatches(name, known, 3);
    const std::string problem =
        absl::StrCat("unknown check ", ShowValue(name), DidYouMean(name, known));
    absl::Status invalid =
        InvalidField(FieldAt("names", i), problem,
                     absl::StrCat("the checks are: ", absl::StrJoin(known, ", "), " (none = all)"));
    if (suggestions.empty()) return invalid;
    return WithMetadata(invalid, metadata::kSuggestions, absl::StrJoin(suggestions, ","));
  }
  return absl::OkStatus();
}

absl::Status Validate(const pool::v1::CheckConfigRequest& request) {
  return CheckRequestRules(request);
}

}  // namespace llorch
