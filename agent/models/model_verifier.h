// `models verify`: checks a model's file against its manifest: present, size above zero, size as
// recorded, SHA-256 recomputed and compared, GGUF header valid.
#ifndef LLORCH_AGENT_MODELS_MODEL_VERIFIER_H_
#define LLORCH_AGENT_MODELS_MODEL_VERIFIER_H_

#include "absl/status/statusor.h"
#include "agent/models/model_store.h"
#include "agent/models/sha256_file.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {

// Verifies `model`. Every check that fails is reported in the result (ok = false), not as an
// error; the status is an error only when hashing was cancelled (CANCELLED) through `progress`.
absl::StatusOr<pool::v1::ModelVerification> VerifyModel(const ModelStore& store,
                                                        const CatalogModel& model,
                                                        const HashProgress& progress);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_VERIFIER_H_
