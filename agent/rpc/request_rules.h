// What every gRPC adapter checks of a request before it runs anything: the rules all v1 requests
// obey, and the pieces each service's own rules (its *_requests.h) are made of. A request that
// breaks one is INVALID_ARGUMENT with reason INVALID_REQUEST and ErrorHint.metadata "field"
// naming the field as the .proto spells it ("ids[1]", "branch"); nothing has run.
//
// The rules of every request (CheckRequestRules):
//   - no field this agent does not know: a client built for a newer API would otherwise have it
//     silently ignored (metadata "field" is then "#<number>");
//   - every enum value one of its enum's (proto3 lets unknown numbers through as they are);
//   - every string at most kMaxRequestStringBytes bytes, with no control character (C0, DEL,
//     C1): request strings are ids, names and filters, never free text;
//   - every repeated field at most kMaxRequestRepeated entries.
#ifndef LLORCH_AGENT_RPC_REQUEST_RULES_H_
#define LLORCH_AGENT_RPC_REQUEST_RULES_H_

#include <google/protobuf/message.h>

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

inline constexpr size_t kMaxRequestStringBytes = 1024;
inline constexpr int kMaxRequestRepeated = 1000;

// OK when `request` obeys the rules above; else the first field that does not.
absl::Status CheckRequestRules(const google::protobuf::Message& request);

// INVALID_ARGUMENT, reason INVALID_REQUEST, metadata field = `field`: "<field>: <problem>".
absl::Status InvalidField(absl::string_view field, absl::string_view problem,
                          absl::string_view hint);

// "ids[2]": the entry `index` of the repeated field `field`.
std::string FieldAt(absl::string_view field, int index);

// `value` for an error message: quoted, escaped, and cut after 64 bytes.
std::string ShowValue(absl::string_view value);

// InvalidField when `value` is empty: "<field>: required".
absl::Status CheckPresent(absl::string_view field, absl::string_view value, absl::string_view hint);

// For requests that name their targets or say `all` (destructive or expensive work never runs on
// everything by omission): InvalidField naming `list_field` when the list is empty and `all` is
// unset, and `all_field` when both are given.
absl::Status CheckListOrAll(absl::string_view list_field, int list_size,
                            absl::string_view all_field, bool all, absl::string_view hint);

}  // namespace llorch

#endif  // LLORCH_AGENT_RPC_REQUEST_RULES_H_
