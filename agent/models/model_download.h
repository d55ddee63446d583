// `models download`: getting catalog models into the store, verified, as the work of one
// "model.download" operation.
//
// Per model, holding its ModelLock (when another process is downloading it, wait, then find it
// downloaded):
//   - downloaded (its manifest matches the file) and not forced: nothing to fetch; said so.
//   - a GGUF model, native backend: Resolve on the Hub; a file already on disk without a
//     manifest is hashed and adopted when it is the Hub's; otherwise the free space is checked
//     and FetchFile downloads it (resuming a partial of the same bytes) into
//     <dir>/.llorch/<file>.partial; ModelStore::Install installs it only when its bytes match
//     the Hub's digest (its SHA-256, or for a file outside LFS its git blob id, computed while
//     they stream in: Manifest::verified_by says which) and its GGUF header is valid; else the
//     partial is discarded. A file the Hub gives no digest of is not fetched.
//   - a GGUF model, hf backend (download.backend = "hf"): DownloadWithHfCli.
//   - a converted model: the converter is checked first (FindConverter); the source files
//     matching the catalog's source_patterns are fetched, each verified (SHA-256 for LFS files,
//     git blob id for the others) into <dir>/source/, pinned to one commit and recorded in
//     <dir>/.llorch/<file>.sources.json (so a later run keeps what it already has); then
//     ConvertModel makes the GGUF file and ModelStore::Install checks and installs it.
#ifndef LLORCH_AGENT_MODELS_MODEL_DOWNLOAD_H_
#define LLORCH_AGENT_MODELS_MODEL_DOWNLOAD_H_

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "agent/models/catalog_lock.h"
#include "agent/models/converter.h"
#include "agent/models/hf_backend.h"
#include "agent/models/hub/file_download.h"
#include "agent/models/hub/hub_client.h"
#include "agent/models/model_verifier.h"
#include "agent/models/store/model_store.h"
#include "agent/ops/operation.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {

struct DownloadSettings {
  std::string backend = "native";  // "native" | "hf"
  HubOptions hub;
  FetchOptions fetch;
  HfCliOptions hf;
  ConverterOptions convert;  // convert.source_commit is set per model
  absl::Duration lock_poll = absl::Milliseconds(200);
  // The catalog's pins (null: none). A pinned model is fetched from its pinned commit and
  // installed only when the Hub's digest and size there are the pinned ones (reason
  // PIN_MISMATCH otherwise, naming both); a file on disk without a manifest is adopted against
  // the pin without asking the Hub; a model installed with other bytes than the pinned ones is
  // not "already downloaded". Where the catalog revision points now is asked too, and reported
  // when it moved on (DownloadedModel.hub_commit).
  std::shared_ptr<LockFile> pins;
};

// The manifest as the API sends it.
void ToProto(const Manifest& manifest, pool::v1::Manifest* out);

// Downloads (or converts) one model; reports into `op` but leaves finishing it to the caller.
// Errors name the model's repo and file; see the header comment for what each path checks.
absl::StatusOr<pool::v1::DownloadedModel> DownloadCatalogModel(const ModelStore& store,
                                                               const CatalogModel& model,
                                                               bool force,
                                                               const DownloadSettings& settings,
                                                               Operation& op);

// Hears each model a download installs (downloaded, converted or adopted), with its manifest.
using InstalledModel =
    std::function<void(const CatalogModel& model, const pool::v1::Manifest& manifest)>;

// The work of a "model.download" operation: each model in turn (`installed`, when set, hearing
// each one installed, not those already there), then Succeed with a DownloadModelResult; the
// first failure fails the operation (models finished before it stay installed).
void RunDownload(const ModelStore& store, const std::vector<const CatalogModel*>& models,
                 bool force, const DownloadSettings& settings, Operation& op,
                 const InstalledModel& installed = nullptr);

// What `models verify` asks about a file without a manifest: the Hub's record of it. Converted
// models have none (their file exists only here): NotFound.
UpstreamLookup HubLookup(const HubOptions& options);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_DOWNLOAD_H_
