#include "agent/ops/request_key.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/rpc/request_rules.h"

namespace llorch {
namespace {

bool IsRequestIdChar(char c) { return absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.'; }

absl::Status BadRequestId(absl::string_view problem) {
  return InvalidField("request_id", problem,
                      absl::StrCat("use 1 to ", kMaxRequestIdLength,
                                   " characters of A-Z, a-z, 0-9, '-', '_' and '.', e.g. a UUID, "
                                   "or none"));
}

}  // namespace

absl::StatusOr<RequestKey> RequestKeyOf(const google::protobuf::Message& request) {
  const google::protobuf::FieldDescriptor* field =
      request.GetDescriptor()->FindFieldByName("request_id");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_STRING ||
      field->is_repeated()) {
    return absl::InternalError(
        absl::StrCat(request.GetDescriptor()->full_name(), " has no request_id"));
  }
  RequestKey key;
  key.id = request.GetReflection()->GetString(request, field);
  if (key.id.size() > kMaxRequestIdLength) {
    return BadRequestId(
        absl::StrCat("is ", key.id.size(), " bytes long, over ", kMaxRequestIdLength));
  }
  for (char c : key.id) {
    if (!IsRequestIdChar(c)) {
      return BadRequestId(absl::StrCat(ShowValue(key.id), " holds '",
                                       absl::CEscape(absl::string_view(&c, 1)),
                                       "', which an id may not"));
    }
  }
  if (key.id.empty()) return key;

  std::unique_ptr<google::protobuf::Message> rest(request.New());
  rest->CopyFrom(request);
  rest->GetReflection()->ClearField(rest.get(), field);
  key.fingerprint = absl::StrCat(request.GetDescriptor()->full_name(), "\n");
  {
    google::protobuf::io::StringOutputStream out(&key.fingerprint);
    google::protobuf::io::CodedOutputStream coded(&out);
    coded.SetSerializationDeterministic(true);
    rest->SerializeToCodedStream(&coded);
  }
  return key;
}

}  // namespace llorch
