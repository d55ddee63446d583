#include "agent/rpc/request_rules.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/unknown_field_set.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::Reflection;

constexpr char kProtoHint[] = "the .proto files in proto/llorch/pool/v1 define each request";

// True for C0 controls, DEL, and C1 controls (U+0080..U+009F, "\xC2\x80".."\xC2\x9F" in UTF-8).
bool HasControlCharacter(absl::string_view text) {
  for (size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) return true;
    if (c == 0xc2 && i + 1 < text.size()) {
      const auto next = static_cast<unsigned char>(text[i + 1]);
      if (next >= 0x80 && next <= 0x9f) return true;
    }
  }
  return false;
}

absl::Status CheckString(const FieldDescriptor& descriptor, const std::string& field,
                         const std::string& value) {
  if (const size_t limit = MaxStringBytes(descriptor); value.size() > limit) {
    return InvalidField(
        field, absl::StrCat("is ", value.size(), " bytes long; at most ", limit, " are accepted"),
        "request strings are ids, names and filters, all short");
  }
  if (HasControlCharacter(value)) {
    return InvalidField(field, absl::StrCat(ShowValue(value), " holds a control character"),
                        "request strings are ids, names and filters: no control characters");
  }
  return absl::OkStatus();
}

absl::Status CheckEnum(const std::string& field, const FieldDescriptor& descriptor, int value) {
  if (descriptor.enum_type()->FindValueByNumber(value) != nullptr) return absl::OkStatus();
  return InvalidField(
      field, absl::StrCat(value, " is not a value of ", descriptor.enum_type()->full_name()),
      "send one of the enum's values; an agent older than the client does not "
      "know newer ones (GetHostInfo says its version)");
}

absl::Status CheckMessage(const Message& message, const std::string& prefix);

// Entry `index` of `descriptor` in `message` (-1: the singular field).
absl::Status CheckValue(const Message& message, const FieldDescriptor& descriptor, int index,
                        const std::string& field) {
  const Reflection& reflection = *message.GetReflection();
  const bool repeated = index >= 0;
  switch (descriptor.cpp_type()) {
    case FieldDescriptor::CPPTYPE_STRING:
      if (descriptor.type() == FieldDescriptor::TYPE_BYTES) return absl::OkStatus();
      return CheckString(descriptor, field,
                         repeated ? reflection.GetRepeatedString(message, &descriptor, index)
                                  : reflection.GetString(message, &descriptor));
    case FieldDescriptor::CPPTYPE_ENUM:
      return CheckEnum(field, descriptor,
                       repeated ? reflection.GetRepeatedEnumValue(message, &descriptor, index)
                                : reflection.GetEnumValue(message, &descriptor));
    case FieldDescriptor::CPPTYPE_MESSAGE:
      return CheckMessage(repeated ? reflection.GetRepeatedMessage(message, &descriptor, index)
                                   : reflection.GetMessage(message, &descriptor),
                          field + ".");
    default:
      return absl::OkStatus();
  }
}

absl::Status CheckMessage(const Message& message, const std::string& prefix) {
  const Reflection& reflection = *message.GetReflection();
  if (const auto& unknown = reflection.GetUnknownFields(message); !unknown.empty()) {
    const int number = unknown.field(0).number();
    return InvalidField(
        absl::StrCat(prefix, "#", number),
        absl::StrCat(message.GetDescriptor()->full_name(), " has no field number ", number,
                     " in this agent: the client was built for a newer API"),
        "upgrade the agent (GetHostInfo says its version), or leave the field unset");
  }
  std::vector<const FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const FieldDescriptor* descriptor : fields) {
    const std::string field = prefix + descriptor->name();
    if (!descriptor->is_repeated()) {
      if (absl::Status status = CheckValue(message, *descriptor, -1, field); !status.ok()) {
        return status;
      }
      continue;
    }
    const int size = reflection.FieldSize(message, descriptor);
    if (const int limit = MaxEntries(*descriptor); size > limit) {
      return InvalidField(field,
                          absl::StrCat("has ", size, " entries; at most ", limit, " are accepted"),
                          "split the request");
    }
    for (int i = 0; i < size; ++i) {
      if (absl::Status status = CheckValue(message, *descriptor, i, FieldAt(field, i));
          !status.ok()) {
        return status;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::map<std::string, FieldLimit>& RequestFieldLimits() {
  static const auto* const limits = new std::map<std::string, FieldLimit>{
      // Branch names are refs: paths of several components, each up to a file name's 255 bytes.
      {"llorch.pool.v1.SyncRequest.branch", {1024, 0}},
      {"llorch.pool.v1.SwitchSubmoduleBranchRequest.branch", {1024, 0}},
      // Who asked, for the others to read: a command line, a pid and a host name (up to 255).
      {"llorch.pool.v1.GetOperationRequest.requested_by", {1024, 0}},
      {"llorch.pool.v1.CancelOperationRequest.requested_by", {1024, 0}},
      // A superproject may pin hundreds of submodules, and `git submodules update` names them.
      {"llorch.pool.v1.UpdateSubmodulesRequest.names", {0, 1024}},
  };
  return *limits;
}

size_t MaxStringBytes(const FieldDescriptor& field) {
  const auto& limits = RequestFieldLimits();
  const auto found = limits.find(field.full_name());
  return found == limits.end() || found->second.max_bytes == 0 ? kMaxRequestStringBytes
                                                               : found->second.max_bytes;
}

int MaxEntries(const FieldDescriptor& field) {
  const auto& limits = RequestFieldLimits();
  const auto found = limits.find(field.full_name());
  return found == limits.end() || found->second.max_entries == 0 ? kMaxRequestRepeated
                                                                 : found->second.max_entries;
}

absl::Status CheckRequestRules(const Message& request) { return CheckMessage(request, ""); }

absl::Status InvalidField(absl::string_view field, absl::string_view problem,
                          absl::string_view hint) {
  return WithMetadata(
      WithReason(WithHint(absl::InvalidArgumentError(absl::StrCat(field, ": ", problem)),
                          absl::StrCat(hint, "; ", kProtoHint)),
                 reasons::kInvalidRequest),
      metadata::kField, field);
}

std::string FieldAt(absl::string_view field, int index) {
  return absl::StrCat(field, "[", index, "]");
}

std::string ShowValue(absl::string_view value) {
  constexpr size_t kShown = 64;
  if (value.size() <= kShown) return absl::StrCat("'", absl::CHexEscape(value), "'");
  return absl::StrCat("'", absl::CHexEscape(value.substr(0, kShown)), "'... (", value.size(),
                      " bytes)");
}

absl::Status CheckPresent(absl::string_view field, absl::string_view value,
                          absl::string_view hint) {
  if (!value.empty()) return absl::OkStatus();
  return InvalidField(field, "required", hint);
}

absl::Status CheckListOrAll(absl::string_view list_field, int list_size,
                            absl::string_view all_field, bool all, absl::string_view hint) {
  if (list_size == 0 && !all) {
    return InvalidField(
        list_field, absl::StrCat("empty, and ", all_field, " is not set: say which, or all"), hint);
  }
  if (list_size > 0 && all) {
    return InvalidField(all_field, absl::StrCat("set together with ", list_field, ": give one"),
                        hint);
  }
  return absl::OkStatus();
}

}  // namespace llorch
