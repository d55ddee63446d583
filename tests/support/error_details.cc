#include "tests/support/error_details.h"

namespace llorch::testing {

pool::v1::ErrorHint ErrorHintOf(const pool::v1::RpcStatus& status) {
  pool::v1::ErrorHint hint;
  for (const auto& detail : status.details()) {
    if (detail.UnpackTo(&hint)) return hint;
  }
  return {};
}

pool::v1::ErrorHint ErrorHintOf(const grpc::Status& status) {
  pool::v1::RpcStatus details;
  if (!details.ParseFromString(status.error_details())) return {};
  return ErrorHintOf(details);
}

}  // namespace llorch::testing
