#include "agent/dev/dev_requests.h"

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/dev/doctor.h"
#include "agent/dev/setup.h"
#include "agent/models/model_requests.h"
#include "agent/rpc/request_rules.h"
#include "common/error_metadata.h"
#include "common/status.h"
#include "common/strings.h"

namespace llorch {

namespace {

// Each of `names` (the repeated field `field`) one of `known`; else INVALID_ARGUMENT naming the
// first unknown one, the closest known names in "suggestions", and all of them (then
// `after_list`) in the hint.
absl::Status CheckNames(const char* field,
                        const google::protobuf::RepeatedPtrField<std::string>& names,
                        const std::vector<std::string>& known, const char* what,
                        const char* after_list) {
  for (int i = 0; i < names.size(); ++i) {
    const std::string& name = names[i];
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    const std::vector<std::string> suggestions = ClosestMatches(name, known, 3);
    const std::string problem =
        absl::StrCat("unknown ", what, " ", ShowValue(name), DidYouMean(name, known));
    absl::Status invalid =
        InvalidField(FieldAt(field, i), problem,
                     absl::StrCat("the ", what, "s are: ", absl::StrJoin(known, ", "), after_list));
    if (suggestions.empty()) return invalid;
    return WithMetadata(invalid, metadata::kSuggestions, absl::StrJoin(suggestions, ","));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status Validate(const pool::v1::RunDoctorRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckNames("names", request.names(), DoctorCheckNames(), "check", " (none = all)");
}

absl::Status Validate(const pool::v1::RunSetupRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (absl::Status steps =
          CheckNames("skip_steps", request.skip_steps(), SetupStepNames(), "step", "");
      !steps.ok()) {
    return steps;
  }
  if (request.model_id().empty()) return absl::OkStatus();
  return CheckModelId("model_id", request.model_id());
}

absl::Status Validate(const pool::v1::CheckConfigRequest& request) {
  return CheckRequestRules(request);
}

}  // namespace llorch
