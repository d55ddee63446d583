// Helpers for absl::Status errors that carry a hint (what the user should do next), a reason (a
// stable cause for programs) and metadata (facts as key/value strings, for programs).
//
// Domain code returns absl::Status; when the fix is known it attaches a hint with WithHint().
// The gRPC adapter sends hint, reason and metadata to clients as an ErrorHint detail
// (agent/rpc/grpc_status.h) and the CLI prints the hint as "hint: ...". Statuses without them are
// fine: not every error has an obvious next step.
#ifndef LLORCH_COMMON_STATUS_H_
#define LLORCH_COMMON_STATUS_H_

#include <map>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

// Returns `status` with `hint` attached (replacing any earlier hint). OK statuses stay OK.
absl::Status WithHint(absl::Status status, absl::string_view hint);

// Returns the hint attached to `status`, if any.
std::optional<std::string> GetHint(const absl::Status& status);

// Attaches a stable machine-readable reason such as "MODEL_NOT_FOUND"; every
// reason is a constant in common/error_reasons.h.
absl::Status WithReason(absl::Status status, absl::string_view reason);
std::optional<std::string> GetReason(const absl::Status& status);

// Attaches the fact `key` = `value` (ErrorHint.metadata; keys are constants in
// common/error_reasons.h), replacing an earlier value of `key`. OK statuses stay OK.
absl::Status WithMetadata(absl::Status status, absl::string_view key, absl::string_view value);
// Every fact attached with WithMetadata(), by key.
std::map<std::string, std::string> GetMetadata(const absl::Status& status);

// `status` with "<prefix>: " before its message, hint and reason kept. OK stays OK.
absl::Status WithPrefix(const absl::Status& status, absl::string_view prefix);

}  // namespace llorch

#endif  // LLORCH_COMMON_STATUS_H_
