// `models lock`: pinning catalog models to what the Hub has now, in the catalog's lock file
// (catalog_lock.h). Only HEADs go to the Hub (HubClient::Resolve): nothing is downloaded.
#ifndef LLORCH_AGENT_MODELS_MODEL_PINNING_H_
#define LLORCH_AGENT_MODELS_MODEL_PINNING_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/models/catalog.h"
#include "agent/models/catalog_lock.h"
#include "agent/models/hub/hub_client.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {

// The pin as the API sends it: with `stale` set when it no longer fits `model`.
void ToProto(const ModelPin& pin, const CatalogModel& model, const std::string& lock_file,
             pool::v1::ModelPin* out);

// Pins `models` (or with `unpin` removes their pins) in `lock_file` and writes it when a pin
// changed; see ModelService.LockModels in model.proto. A model the Hub cannot answer for is
// ACTION_FAILED in the response, the others are still written. Errors: FailedPrecondition when
// no lock file is configured (reason NO_LOCK_FILE) or the Hub is offline (HUB_OFFLINE); the
// write's error; Cancelled.
absl::StatusOr<pool::v1::LockModelsResponse> PinModels(
    const std::vector<const CatalogModel*>& models, LockFile& lock_file, const HubOptions& hub,
    bool update, bool unpin, const std::function<bool()>& cancelled = {});

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_PINNING_H_
