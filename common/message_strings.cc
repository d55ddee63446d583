#include "common/message_strings.h"

#include <google/protobuf/any.pb.h>
#include <google/protobuf/unknown_field_set.h>

#include <vector>

namespace llorch {
namespace {

namespace pb = google::protobuf;

bool IsAny(const pb::Descriptor& type) { return type.full_name() == "google.protobuf.Any"; }

// The type an Any's URL names ("type.googleapis.com/llorch.pool.v1.GitPullResult"), or nullptr.
const pb::Descriptor* PackedType(const std::string& type_url) {
  return pb::DescriptorPool::generated_pool()->FindMessageTypeByName(
      type_url.substr(type_url.rfind('/') + 1));
}

// The fields of a message of type `type` decoded without a schema: nothing is refused.
bool RewriteFields(const pb::Descriptor& type, pb::UnknownFieldSet* fields, StringRewrite rewrite) {
  bool changed = false;
  const pb::Descriptor* packed = nullptr;  // for an Any: the type of its value
  if (IsAny(type)) {
    for (int i = 0; i < fields->field_count(); ++i) {
      pb::UnknownField* field = fields->mutable_field(i);
      if (field->number() != pb::Any::kTypeUrlFieldNumber ||
          field->type() != pb::UnknownField::TYPE_LENGTH_DELIMITED) {
        continue;
      }
      changed |=
          rewrite(*type.FindFieldByNumber(field->number()), field->mutable_length_delimited());
      packed = PackedType(field->length_delimited());
    }
  }
  for (int i = 0; i < fields->field_count(); ++i) {
    pb::UnknownField* field = fields->mutable_field(i);
    if (field->type() != pb::UnknownField::TYPE_LENGTH_DELIMITED) continue;
    const pb::FieldDescriptor* descriptor = type.FindFieldByNumber(field->number());
    if (descriptor == nullptr) continue;
    if (IsAny(type) && field->number() == pb::Any::kValueFieldNumber) {
      if (packed != nullptr) {
        changed |= RewriteSerializedStrings(*packed, field->mutable_length_delimited(), rewrite);
      }
    } else if (IsAny(type) && field->number() == pb::Any::kTypeUrlFieldNumber) {
      continue;  // done above
    } else if (descriptor->type() == pb::FieldDescriptor::TYPE_STRING) {
      changed |= rewrite(*descriptor, field->mutable_length_delimited());
    } else if (descriptor->type() == pb::FieldDescriptor::TYPE_MESSAGE) {
      changed |= RewriteSerializedStrings(*descriptor->message_type(),
                                          field->mutable_length_delimited(), rewrite);
    }
  }
  return changed;
}

bool RewriteField(pb::Message* message, const pb::FieldDescriptor& field, StringRewrite rewrite) {
  const pb::Reflection& reflection = *message->GetReflection();
  bool changed = false;
  if (field.type() == pb::FieldDescriptor::TYPE_STRING) {
    if (!field.is_repeated()) {
      std::string text = reflection.GetString(*message, &field);
      if (!rewrite(field, &text)) return false;
      reflection.SetString(message, &field, std::move(text));
      return true;
    }
    for (int i = 0; i < reflection.FieldSize(*message, &field); ++i) {
      std::string text = reflection.GetRepeatedString(*message, &field, i);
      if (!rewrite(field, &text)) continue;
      reflection.SetRepeatedString(message, &field, i, std::move(text));
      changed = true;
    }
  } else if (field.type() == pb::FieldDescriptor::TYPE_MESSAGE) {
    // Map fields too: reflection shows them as repeated entries with a key and a value.
    if (!field.is_repeated())
      return RewriteStrings(reflection.MutableMessage(message, &field), rewrite);
    for (int i = 0; i < reflection.FieldSize(*message, &field); ++i) {
      changed |= RewriteStrings(reflection.MutableRepeatedMessage(message, &field, i), rewrite);
    }
  }
  return changed;
}

// AllStrings() of the wire form of a message of type `type`: RewriteFields' walk with a rewrite
// that changes nothing and notes the first string `accept` refuses.
bool AllSerializedStrings(const pb::Descriptor& type, const std::string& wire, StringCheck accept) {
  pb::UnknownFieldSet fields;
  if (!fields.ParseFromString(wire)) return true;  // RewriteSerializedStrings leaves it as well
  bool all = true;
  RewriteFields(type, &fields, [&](const pb::FieldDescriptor& field, std::string* text) {
    all = all && accept(field, *text);
    return false;
  });
  return all;
}

// AllStrings() of one field of `message`: the counterpart of RewriteField, by reference.
bool AllFieldStrings(const pb::Message& message, const pb::FieldDescriptor& field,
                     StringCheck accept) {
  const pb::Reflection& reflection = *message.GetReflection();
  std::string scratch;  // used only by string fields not stored as std::string (cords)
  if (field.type() == pb::FieldDescriptor::TYPE_STRING) {
    if (!field.is_repeated()) {
      return accept(field, reflection.GetStringReference(message, &field, &scratch));
    }
    for (int i = 0; i < reflection.FieldSize(message, &field); ++i) {
      if (!accept(field, reflection.GetRepeatedStringReference(message, &field, i, &scratch))) {
        return false;
      }
    }
  } else if (field.type() == pb::FieldDescriptor::TYPE_MESSAGE) {
    if (!field.is_repeated()) return AllStrings(reflection.GetMessage(message, &field), accept);
    for (int i = 0; i < reflection.FieldSize(message, &field); ++i) {
      if (!AllStrings(reflection.GetRepeatedMessage(message, &field, i), accept)) return false;
    }
  }
  return true;
}

}  // namespace

bool AllStrings(const pb::Message& message, StringCheck accept) {
  const pb::Descriptor& type = *message.GetDescriptor();
  const pb::Reflection& reflection = *message.GetReflection();
  if (IsAny(type)) {
    const pb::FieldDescriptor& url = *type.FindFieldByNumber(pb::Any::kTypeUrlFieldNumber);
    const pb::FieldDescriptor& value = *type.FindFieldByNumber(pb::Any::kValueFieldNumber);
    std::string url_scratch, value_scratch;
    const std::string& url_text = reflection.GetStringReference(message, &url, &url_scratch);
    if (!accept(url, url_text)) return false;
    const pb::Descriptor* packed = PackedType(url_text);
    return packed == nullptr ||
           AllSerializedStrings(
               *packed, reflection.GetStringReference(message, &value, &value_scratch), accept);
  }
  std::vector<const pb::FieldDescriptor*> fields;
  reflection.ListFields(message, &fields);
  for (const pb::FieldDescriptor* field : fields) {
    if (!AllFieldStrings(message, *field, accept)) return false;
  }
  return true;
}

bool RewriteStrings(pb::Message* message, StringRewrite rewrite) {
  const pb::Descriptor& type = *message->GetDescriptor();
  if (IsAny(type)) {
    // The packed message is rewritten on the wire, where its own parser cannot refuse it.
    const pb::Reflection& reflection = *message->GetReflection();
    const pb::FieldDescriptor& url = *type.FindFieldByNumber(pb::Any::kTypeUrlFieldNumber);
    const pb::FieldDescriptor& value = *type.FindFieldByNumber(pb::Any::kValueFieldNumber);
    bool changed = RewriteField(message, url, rewrite);
    const pb::Descriptor* packed = PackedType(reflection.GetString(*message, &url));
    std::string payload = reflection.GetString(*message, &value);
    if (packed == nullptr || !RewriteSerializedStrings(*packed, &payload, rewrite)) return changed;
    reflection.SetString(message, &value, std::move(payload));
    return true;
  }
  std::vector<const pb::FieldDescriptor*> fields;
  message->GetReflection()->ListFields(*message, &fields);
  bool changed = false;
  for (const pb::FieldDescriptor* field : fields) changed |= RewriteField(message, *field, rewrite);
  return changed;
}

bool RewriteSerializedStrings(const pb::Descriptor& type, std::string* wire,
                              StringRewrite rewrite) {
  pb::UnknownFieldSet fields;
  if (!fields.ParseFromString(*wire)) return false;
  if (!RewriteFields(type, &fields, rewrite)) return false;
  wire->clear();
  fields.SerializeToString(wire);
  return true;
}

}  // namespace llorch
