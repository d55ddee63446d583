#include "agent/server/utf8_interceptor.h"

#include <google/protobuf/message.h>

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/rpc/grpc_status.h"
#include "common/error_reasons.h"
#include "common/message_strings.h"
#include "common/status.h"
#include "common/strings.h"
#include "llorch/pool/v1/common.pb.h"

namespace llorch {
namespace {

using grpc::experimental::InterceptionHookPoints;

bool RepairUtf8(const google::protobuf::FieldDescriptor&, std::string* text) {
  if (IsValidUtf8(*text)) return false;
  *text = ToValidUtf8(*text);
  return true;
}

bool IsValidUtf8String(const google::protobuf::FieldDescriptor&, absl::string_view text) {
  return IsValidUtf8(text);
}

class Utf8Interceptor final : public grpc::experimental::Interceptor {
 public:
  explicit Utf8Interceptor(std::string method) : method_(std::move(method)) {}

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE) &&
        methods->GetRecvMessage() == nullptr) {
      request_unreadable_ = true;  // grpc++ could not parse it into the request type
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      if (const void* message = methods->GetSendMessage()) {
        // Every llorch.pool.v1 method sends protobuf messages. Nearly all are valid UTF-8 and
        // go as they are, after a read-only look. The original may be shared (an operation's
        // event history), so a repair is made on a copy.
        const auto& original = *static_cast<const google::protobuf::Message*>(message);
        if (!AllStrings(original, IsValidUtf8String)) {
          std::unique_ptr<google::protobuf::Message> copy(original.New());
          copy->CopyFrom(original);
          RewriteStrings(copy.get(), RepairUtf8);
          methods->ModifySendMessage(copy.get());
          sent_ = std::move(copy);  // must live until it is serialized
        }
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      methods->ModifySendStatus(Repair(methods->GetSendStatus()));
    }
    methods->Proceed();
  }

 private:
  grpc::Status Repair(const grpc::Status& status) const {
    if (status.ok()) return status;  // no message, no details
    if (request_unreadable_ && status.error_code() == grpc::StatusCode::INTERNAL) {
      return ToGrpcStatus(WithReason(
          WithHint(absl::InvalidArgumentError(absl::StrCat(
                       "the request cannot be read as the request message of ", method_,
                       ": a string field that is not valid UTF-8, or bytes of another message")),
                   "send every string as UTF-8, as proto3 requires; the .proto files in "
                   "proto/llorch/pool/v1 define each request"),
          reasons::kInvalidRequest));
    }
    std::string details = status.error_details();
    RewriteSerializedStrings(*pool::v1::RpcStatus::descriptor(), &details, RepairUtf8);
    return grpc::Status(status.error_code(), ToValidUtf8(status.error_message()), details);
  }

  const std::string method_;
  bool request_unreadable_ = false;
  std::unique_ptr<google::protobuf::Message> sent_;
};

class Utf8InterceptorFactory final : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    // Only our API: grpc's health and reflection services are not ours to change.
    if (!absl::StartsWith(info->method(), "/llorch.pool.v1.")) return nullptr;
    return new Utf8Interceptor(info->method());
  }
};

}  // namespace

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewUtf8InterceptorFactory() {
  return std::make_unique<Utf8InterceptorFactory>();
}

}  // namespace llorch
