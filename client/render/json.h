// Protobuf messages as JSON: the --output json format. Field names are the proto's snake_case
// names and fields at their default value are printed too, so scripts see every key.
#ifndef LLORCH_CLIENT_RENDER_JSON_H_
#define LLORCH_CLIENT_RENDER_JSON_H_

#include <google/protobuf/message.h>

#include <string>

namespace llorch {

// One message as an indented JSON object, for a single response.
std::string ToJson(const google::protobuf::Message& message);
// One message on one line, for streams (JSON Lines).
std::string ToJsonLine(const google::protobuf::Message& message);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_JSON_H_
