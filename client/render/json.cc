#include "client/render/json.h"

#include <google/protobuf/util/json_util.h>

namespace llorch {
namespace {

std::string Convert(const google::protobuf::Message& message, bool indent) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = indent;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a well-formed message cannot fail; the status only reports bad Any types.
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  if (!indent) return out;
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) { return Convert(message, true); }

std::string ToJsonLine(const google::protobuf::Message& message) { return Convert(message, false); }

}  // namespace llorch
