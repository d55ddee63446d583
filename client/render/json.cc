#include "client/render/json.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/util/json_util.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>

namespace llorch {
namespace {

namespace pb = google::protobuf;
using Json = JsonValue;

bool Is64Bit(const pb::FieldDescriptor* field) {
  return field->cpp_type() == pb::FieldDescriptor::CPPTYPE_INT64 ||
         field->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64;
}

// A 64-bit integer protobuf printed as a string, as a number again; anything else unchanged.
void ToNumber(const pb::FieldDescriptor* field, Json* value) {
  if (!value->is_string()) return;
  const std::string& text = value->get_ref<const std::string&>();
  if (text.empty()) return;
  char* end = nullptr;
  errno = 0;
  if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_UINT64) {
    const uint64_t number = std::strtoull(text.c_str(), &end, 10);
    if (errno == 0 && *end == '\0' && text[0] != '-') *value = number;
  } else {
    const int64_t number = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0 && *end == '\0') *value = number;
  }
}

void FixMessage(const pb::Descriptor* descriptor, Json* object);

// One value of `field` (an element, for a repeated field).
void FixValue(const pb::FieldDescriptor* field, Json* value) {
  if (Is64Bit(field)) {
    ToNumber(field, value);
  } else if (field->cpp_type() == pb::FieldDescriptor::CPPTYPE_MESSAGE) {
    FixMessage(field->message_type(), value);
  }
}

// Walks `object`, the JSON of a message of type `descriptor`, alongside the descriptor.
void FixMessage(const pb::Descriptor* descriptor, Json* object) {
  if (!object->is_object()) {
    // The wrappers print as their bare value: Int64Value and UInt64Value as strings.
    const std::string& name = descriptor->full_name();
    if (name == "google.protobuf.Int64Value" || name == "google.protobuf.UInt64Value") {
      ToNumber(descriptor->FindFieldByName("value"), object);
    }
    return;
  }
  if (descriptor->full_name() == "google.protobuf.Any") {
    const auto type = object->find("@type");
    if (type == object->end() || !type->is_string()) return;
    const std::string url = type->get<std::string>();
    const pb::Descriptor* held =
        pb::DescriptorPool::generated_pool()->FindMessageTypeByName(url.substr(url.rfind('/') + 1));
    // A well-known type inside an Any prints as {"@type": ..., "value": ...}.
    if (held != nullptr && held->file()->package() != "google.protobuf") FixMessage(held, object);
    return;
  }
  for (int i = 0; i < descriptor->field_count(); ++i) {
    const pb::FieldDescriptor* field = descriptor->field(i);
    const auto found = object->find(field->name());
    if (found == object->end()) continue;
    if (field->is_map()) {
      const pb::FieldDescriptor* value_field = field->message_type()->map_value();
      if (found->is_object()) {
        for (auto& [key, value] : found->items()) FixValue(value_field, &value);
      }
    } else if (field->is_repeated()) {
      if (found->is_array()) {
        for (Json& element : *found) FixValue(field, &element);
      }
    } else {
      FixValue(field, &*found);
    }
  }
}

// The message as JSON, 64-bit integers as numbers (see json.h).
Json Convert(const pb::Message& message) {
  pb::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.always_print_enums_as_ints = false;
  options.preserve_proto_field_names = true;
  std::string out;
  // Printing a well-formed message cannot fail; the status only reports bad Any types.
  (void)pb::util::MessageToJsonString(message, &out, options);
  Json json = Json::parse(out, nullptr, /*allow_exceptions=*/false);
  FixMessage(message.GetDescriptor(), &json);
  return json;
}

std::string Dump(const Json& json, bool indent) {
  return json.dump(indent ? 2 : -1, ' ', /*ensure_ascii=*/false, Json::error_handler_t::replace);
}

}  // namespace

JsonValue ToJsonValue(const pb::Message& message) { return Convert(message); }

std::string DumpJson(const JsonValue& value, bool one_line) { return Dump(value, !one_line); }

std::string ToJson(const pb::Message& message) { return Dump(Convert(message), true); }

std::string ToJsonLine(const pb::Message& message) { return Dump(Convert(message), false); }

std::string ToJsonDocument(const pb::Any& any) {
  Json json = Convert(any);
  if (json.is_object()) json.erase("@type");
  return Dump(json, true);
}

}  // namespace llorch
