// Retries that start nothing twice (AIP-155). A request that starts an operation may carry a
// client-chosen `request_id`; sent again, it gets the operation the first one started
// (OperationRegistry::Start). What tells a retry from another request reusing the id is the
// fingerprint: the request without its request_id.
#ifndef LLORCH_AGENT_OPS_REQUEST_KEY_H_
#define LLORCH_AGENT_OPS_REQUEST_KEY_H_

#include <google/protobuf/message.h>

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"

namespace llorch {

struct RequestKey {
  std::string id;           // the request_id; "" when the request has none
  std::string fingerprint;  // the message type, then the request without its id, serialized
                            // deterministically
};

inline constexpr size_t kMaxRequestIdLength = 64;

// The key of `request`, a message with a `string request_id` field. An id is 1 to 64 characters
// of A-Z, a-z, 0-9, '-', '_' and '.' (a UUID fits); any other is INVALID_ARGUMENT with reason
// INVALID_REQUEST and metadata field "request_id" (request_rules.h).
absl::StatusOr<RequestKey> RequestKeyOf(const google::protobuf::Message& request);

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_REQUEST_KEY_H_
