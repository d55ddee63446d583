// `models verify`: checks a model's file against its manifest: present, size above zero, size as
// recorded, SHA-256 recomputed and compared, GGUF header valid. A file without a manifest (put
// there by hand or by the bash scripts) is checked against the Hub's record instead, when one can
// be looked up, and adopted: its manifest is written once its bytes are proven. A file whose
// SHA-256 differs from its manifest's loses the manifest (withdrawn): the model then counts as
// unverified, not downloaded, until a download replaces the file.
#ifndef LLORCH_AGENT_MODELS_MODEL_VERIFIER_H_
#define LLORCH_AGENT_MODELS_MODEL_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/models/store/model_store.h"
#include "agent/models/store/sha256_file.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {

// What the Hub records for a model's file at the catalog revision.
struct UpstreamFile {
  std::string sha256;  // lower-case hex (the LFS etag)
  uint64_t size = 0;
  std::string revision_commit;
  std::string etag;
};

// Asks the Hub about `model`'s file; an error when offline, unreachable or unknown there.
using UpstreamLookup = std::function<absl::StatusOr<UpstreamFile>(const CatalogModel& model)>;

// Verifies `model`. Every check that fails is reported in the result (ok = false), not as an
// error; the status is an error only when hashing was cancelled (CANCELLED) through `progress`.
// `lookup` (may be empty) is asked only for a file without a manifest. `pinned`, the model's pin
// in the catalog's lock file, is the reference instead of the Hub (no network: it works
// offline): a file without a manifest is adopted when its bytes are the pinned ones, and a file
// whose manifest records other bytes than the pinned ones fails (its manifest stays: the bytes
// may well be what it says, just not the pinned ones).
absl::StatusOr<pool::v1::ModelVerification> VerifyModel(
    const ModelStore& store, const CatalogModel& model, const HashProgress& progress,
    const UpstreamLookup& lookup = {}, const std::optional<UpstreamFile>& pinned = std::nullopt);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_VERIFIER_H_
