// What every gRPC adapter checks of a request before it runs anything: the rules all v1 requests
// obey, and the pieces each service's own rules (its *_requests.h) are made of. A request that
// breaks one is INVALID_ARGUMENT with reason INVALID_REQUEST and ErrorHint.metadata "field"
// naming the field as the .proto spells it ("ids[1]", "branch"); nothing has run.
//
// The rules of every request (CheckRequestRules):
//   - no field this agent does not know: a client built for a newer API would otherwise have it
//     silently ignored (metadata "field" is then "#<number>");
//   - every enum value one of its enum's (proto3 lets unknown numbers through as they are);
//   - every string at most MaxStringBytes(field) bytes (kMaxRequestStringBytes unless the field
//     is in RequestFieldLimits()), with no control character (C0, DEL, C1): request strings are
//     ids, names and filters, never free text;
//   - every repeated field at most MaxEntries(field) entries (kMaxRequestRepeated unless the
//     field is in RequestFieldLimits()).
// The limits are per field, found from the message's descriptor: a new request field gets the
// defaults without a line of code, and a field that is legitimately longer gets an override.
// The error names the field and its limit ("branch: is 2000 bytes long; at most 1024 are
// accepted").
//
// Before any of this, the server refuses a request message larger than kMaxRequestMessageBytes
// (gRPC's max receive message size: RESOURCE_EXHAUSTED), so a peer cannot make the agent
// buffer and parse megabytes to be told a field is too long. It is above the largest request
// the field limits allow (a unit test adds them up for every request of the API).
#ifndef LLORCH_AGENT_RPC_REQUEST_RULES_H_
#define LLORCH_AGENT_RPC_REQUEST_RULES_H_

#include <google/protobuf/message.h>

#include <cstddef>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

// Ids are at most 64 bytes, names and filters well under 256.
inline constexpr size_t kMaxRequestStringBytes = 256;
// A request names models, workers, checks or submodules: tens, not hundreds.
inline constexpr int kMaxRequestRepeated = 256;
// The largest request message the agent's server reads (its gRPC max receive message size).
inline constexpr int kMaxRequestMessageBytes = 512 * 1024;

// A field's own limit, where the defaults do not fit it; 0 = the default.
struct FieldLimit {
  size_t max_bytes = 0;  // each string (each entry, when repeated)
  int max_entries = 0;   // a repeated field's entries
};
// The overrides, by the field's full name ("llorch.pool.v1.SyncRequest.branch").
const std::map<std::string, FieldLimit>& RequestFieldLimits();
// The limits of `field`: its override, else the default.
size_t MaxStringBytes(const google::protobuf::FieldDescriptor& field);
int MaxEntries(const google::protobuf::FieldDescriptor& field);

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
