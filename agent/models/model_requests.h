// What ModelService accepts, as model.proto says, checked before anything runs: the rules of
// every request (agent/rpc/request_rules.h), then model ids of the right form (a malformed one is
// INVALID_ARGUMENT, reason INVALID_REQUEST; a well-formed one the catalog lacks is NOT_FOUND
// later), the fields each RPC requires, and VerifyModel's `ids` or `all`, not both.
#ifndef LLORCH_AGENT_MODELS_MODEL_REQUESTS_H_
#define LLORCH_AGENT_MODELS_MODEL_REQUESTS_H_

#include <string>

#include "absl/status/status.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {

// A model id in `field`: present and of the form of one (IsModelId); INVALID_ARGUMENT (reason
// INVALID_REQUEST, the field named) otherwise. Whether the catalog has it is checked later.
absl::Status CheckModelId(const std::string& field, const std::string& id);

absl::Status Validate(const pool::v1::ListCatalogRequest& request);
absl::Status Validate(const pool::v1::GetModelInfoRequest& request);
absl::Status Validate(const pool::v1::DownloadModelRequest& request);
absl::Status Validate(const pool::v1::VerifyModelRequest& request);
absl::Status Validate(const pool::v1::DeleteModelRequest& request);
absl::Status Validate(const pool::v1::LockModelsRequest& request);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_REQUESTS_H_
