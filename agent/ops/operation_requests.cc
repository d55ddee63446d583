#include "agent/ops/operation_requests.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/ops/operation_registry.h"
#include "agent/rpc/request_rules.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

constexpr char kOpsHint[] = "`llorch-pool ops list` shows the operations and their ids";
constexpr size_t kMaxKindLength = 64;

absl::Status CheckOperationId(const std::string& id) {
  if (absl::Status present = CheckPresent("id", id, kOpsHint); !present.ok()) return present;
  if (IsOperationId(id)) return absl::OkStatus();
  return InvalidField("id",
                      absl::StrCat(ShowValue(id),
                                   " is not an operation id: ids are \"op-\" and 8 "
                                   "lower-case hex digits, e.g. op-7f3a2c1d"),
                      kOpsHint);
}

// "model.download": words of [a-z0-9-] starting with a letter, joined by '.'.
bool IsKind(absl::string_view kind) {
  if (kind.empty() || kind.size() > kMaxKindLength) return false;
  for (absl::string_view word : absl::StrSplit(kind, '.')) {
    if (word.empty() || !absl::ascii_islower(word.front())) return false;
    for (char c : word) {
      if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') return false;
    }
  }
  return true;
}

}  // namespace

absl::Status Validate(const v1::ListOperationsRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  for (int i = 0; i < request.states_size(); ++i) {
    if (request.states(i) == v1::OPERATION_STATE_UNSPECIFIED) {
      return InvalidField(FieldAt("states", i), "OPERATION_STATE_UNSPECIFIED is not a state",
                          "filter by PENDING, RUNNING, SUCCEEDED, FAILED or CANCELLED");
    }
  }
  if (request.kind().empty() || IsKind(request.kind())) return absl::OkStatus();
  return InvalidField("kind",
                      absl::StrCat(ShowValue(request.kind()),
                                   " is not an operation kind: kinds are dotted lower-case words, "
                                   "e.g. model.download"),
                      "leave it empty for every kind");
}

absl::Status Validate(const v1::GetOperationRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckOperationId(request.id());
}

absl::Status Validate(const v1::WatchOperationRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckOperationId(request.id());
}

absl::Status Validate(const v1::CancelOperationRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  return CheckOperationId(request.id());
}

}  // namespace llorch
