// ModelService: the gRPC adapter over the catalog and the model store. Thin: it validates the
// request (model_requests.h) and its ids against the catalog, calls the domain code, and
// translates results and errors.
#ifndef LLORCH_AGENT_MODELS_MODEL_SERVICE_H_
#define LLORCH_AGENT_MODELS_MODEL_SERVICE_H_

#include <filesystem>
#include <functional>
#include <memory>

#include "agent/models/catalog.h"
#include "agent/models/model_download.h"
#include "agent/models/store/model_store.h"
#include "agent/ops/event_bus.h"
#include "agent/ops/operation_registry.h"
#include "common/config.h"
#include "llorch/pool/v1/model.grpc.pb.h"

namespace llorch {

// How DownloadModel fetches, from the agent's configuration and environment (HF_ENDPOINT,
// HF_TOKEN, HF_HUB_OFFLINE); converter scripts are found in the checkout at `repo_root`. A
// request's own Hub token (metadata x-llorch-hub-token, model.proto) takes the place of the
// agent's HF_TOKEN for that request's operation only.
DownloadSettings DownloadSettingsFor(const Config& config, const std::filesystem::path& repo_root,
                                     const Environment& env);

// The catalog entries named by `ids` (all when empty) with their state in `store` and their pins
// in `pins` (none when null).
absl::StatusOr<pool::v1::ListCatalogResponse> ListCatalog(const Catalog& catalog,
                                                          const ModelStore& store,
                                                          const std::vector<std::string>& ids,
                                                          const LockFile* pins = nullptr);

// Tells `events` (none when null) that `model` was installed by operation `operation_id`, with
// its manifest: what a download publishes, for other operations that install a model (setup).
void PublishModelInstalled(EventBus* events, const ModelStore& store, const CatalogModel& model,
                           absl::string_view operation_id, const pool::v1::Manifest& manifest);

class ModelServiceImpl final : public pool::v1::ModelService::Service {
 public:
  // Returns an error (FailedPrecondition) when `model` must not be deleted now, e.g. because a
  // running worker serves it. The worker service installs its check; the default allows all.
  using InUseCheck = std::function<absl::Status(const CatalogModel& model)>;

  // Serves the models of `catalog` in the store at `models_dir`; downloads and verifications
  // run as operations of `operations`; the catalog's pins are download_settings.pins (none when
  // null). Models installed, removed or found unverified are
  // published to `events` (none when null).
  ModelServiceImpl(std::shared_ptr<const Catalog> catalog, const std::filesystem::path& models_dir,
                   DownloadSettings download_settings,
                   std::shared_ptr<OperationRegistry> operations, std::shared_ptr<EventBus> events);

  void SetInUseCheck(InUseCheck check);

  // The Hub options downloads start from (the agent's endpoint, offline flag and own token).
  const HubOptions& hub() const { return download_settings_.hub; }

  grpc::Status ListCatalog(grpc::ServerContext*, const pool::v1::ListCatalogRequest* request,
                           pool::v1::ListCatalogResponse* response) override;
  grpc::Status ListModels(grpc::ServerContext*, const pool::v1::ListModelsRequest*,
                          pool::v1::ListModelsResponse*) override;
  grpc::Status GetModelInfo(grpc::ServerContext*, const pool::v1::GetModelInfoRequest* request,
                            pool::v1::ModelInfo* response) override;
  grpc::Status DownloadModel(grpc::ServerContext*, const pool::v1::DownloadModelRequest* request,
                             grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status VerifyModel(grpc::ServerContext*, const pool::v1::VerifyModelRequest* request,
                           grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status DeleteModel(grpc::ServerContext*, const pool::v1::DeleteModelRequest* request,
                           pool::v1::DeleteModelResponse*) override;
  grpc::Status GetDiskUsage(grpc::ServerContext*, const pool::v1::GetDiskUsageRequest*,
                            pool::v1::GetDiskUsageResponse*) override;
  grpc::Status LockModels(grpc::ServerContext* context, const pool::v1::LockModelsRequest* request,
                          pool::v1::LockModelsResponse* response) override;

 private:
  // OK when every id is in the catalog; otherwise the NotFound for the first unknown one.
  absl::Status CheckIds(const google::protobuf::RepeatedPtrField<std::string>& ids) const;

  std::shared_ptr<const Catalog> catalog_;  // shared with the operations' threads
  ModelStore store_;
  DownloadSettings download_settings_;
  std::shared_ptr<OperationRegistry> operations_;
  std::shared_ptr<EventBus> events_;
  const std::string join_salt_;  // NewJoinSalt(): hashes callers' Hub tokens in join keys
  InUseCheck in_use_check_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_SERVICE_H_
