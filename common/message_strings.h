// Every string field of a protobuf message, rewritten in one pass: how the agent makes what it
// sends valid UTF-8, and how the CLI makes what it shows visible.
//
// RewriteStrings() calls `rewrite` on each string field (not bytes) of `message`: singular and
// repeated fields, map keys and values, nested messages at any depth, and the message packed in
// every google.protobuf.Any. An Any's payload is rewritten on the wire, field by field as its
// type (looked up by type URL in the generated descriptor pool) describes it, so a payload whose
// strings its own parser would refuse (invalid UTF-8) is still reached; an Any of an unknown type
// is left as it is.
//
// AllStrings() reads the same strings without changing or copying anything (only an Any's payload
// is decoded) and stops at the first one `accept` refuses: the cheap test before a copy is
// rewritten, for the common message in which nothing needs to change.
#ifndef LLORCH_COMMON_MESSAGE_STRINGS_H_
#define LLORCH_COMMON_MESSAGE_STRINGS_H_

#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace llorch {

// Rewrites `*text`, the value of `field`, in place; returns true when it changed it.
using StringRewrite =
    absl::FunctionRef<bool(const google::protobuf::FieldDescriptor& field, std::string* text)>;

// Applies `rewrite` to every string in `message`. Returns true when anything changed.
bool RewriteStrings(google::protobuf::Message* message, StringRewrite rewrite);

// The same for `wire`, a serialized message of type `type` (which need not parse). Returns true
// when anything changed; `wire` is then the re-serialized message.
bool RewriteSerializedStrings(const google::protobuf::Descriptor& type, std::string* wire,
                              StringRewrite rewrite);

// Whether `accept` holds for `text`, a value of `field`.
using StringCheck =
    absl::FunctionRef<bool(const google::protobuf::FieldDescriptor& field, absl::string_view text)>;

// True when `accept` holds for every string RewriteStrings() would reach in `message`.
bool AllStrings(const google::protobuf::Message& message, StringCheck accept);

}  // namespace llorch

#endif  // LLORCH_COMMON_MESSAGE_STRINGS_H_
