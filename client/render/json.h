// Protobuf messages as JSON: the --output json and jsonl formats. Field names are the proto's
// snake_case names and fields at their default value are printed too, so scripts see every key.
//
// Unlike protobuf's own JSON mapping, 64-bit integers (sizes, byte counts, pids) are JSON
// numbers, not strings, so that `jq '.size_bytes > 1e9'` compares numbers: every value the API
// carries fits a double's 53 bits of exact integers (byte counts below 8 PiB). Enums stay names,
// Timestamps RFC 3339 strings.
#ifndef LLORCH_CLIENT_RENDER_JSON_H_
#define LLORCH_CLIENT_RENDER_JSON_H_

#include <google/protobuf/any.pb.h>
#include <google/protobuf/message.h>

#include <string>

#include "nlohmann/json.hpp"

namespace llorch {

// A JSON value in the order it was built (the proto's field order).
using JsonValue = nlohmann::ordered_json;

// `message` as a JSON value, 64-bit integers as numbers; for documents put together from parts.
JsonValue ToJsonValue(const google::protobuf::Message& message);
// `value` indented, or on one line.
std::string DumpJson(const JsonValue& value, bool one_line);

// One message as an indented JSON object, for a single response.
std::string ToJson(const google::protobuf::Message& message);
// One message on one line, for streams (JSON Lines).
std::string ToJsonLine(const google::protobuf::Message& message);
// The message an Any holds, as ToJson() prints it: without the "@type" key (an operation's
// final result, whose type the command already says).
std::string ToJsonDocument(const google::protobuf::Any& any);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_JSON_H_
