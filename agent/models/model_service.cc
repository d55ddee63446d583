#include "agent/models/model_service.h"

#include "agent/server/grpc_status.h"

namespace llorch {
namespace v1 = pool::v1;

namespace {

v1::DownloadState ToProto(LocalState state) {
  switch (state) {
    case LocalState::kNotDownloaded:
      return v1::DOWNLOAD_STATE_NOT_DOWNLOADED;
    case LocalState::kPartial:
      return v1::DOWNLOAD_STATE_PARTIAL;
    case LocalState::kUnverified:
      return v1::DOWNLOAD_STATE_UNVERIFIED;
    case LocalState::kDownloaded:
      return v1::DOWNLOAD_STATE_DOWNLOADED;
  }
  return v1::DOWNLOAD_STATE_UNSPECIFIED;
}

void ToProto(const CatalogModel& model, v1::CatalogModel* out) {
  out->set_id(model.id);
  out->set_name(model.name);
  out->set_repo(model.repo);
  out->set_file(model.file);
  out->set_dir(model.dir);
  out->set_size_bytes(model.size_bytes);
  out->set_params(model.params);
  out->set_description(model.description);
  out->set_verified(model.verified);
  out->set_note(model.note);
  out->set_hub_url(model.HubUrl());
  out->set_revision(model.revision);
  if (model.conversion) {
    v1::Conversion* conversion = out->mutable_conversion();
    conversion->set_converter(model.conversion->converter);
    conversion->set_script(model.conversion->script);
    for (const std::string& arg : model.conversion->args) conversion->add_args(arg);
    for (const std::string& pattern : model.conversion->source_patterns) {
      conversion->add_source_patterns(pattern);
    }
    conversion->set_output_type(model.conversion->output_type);
  }
}

void AddEntry(const CatalogModel& model, const ModelStore& store, v1::ListCatalogResponse* out) {
  v1::CatalogEntry* entry = out->add_entries();
  ToProto(model, entry->mutable_model());
  LocalModel local = store.Inspect(model);
  entry->set_state(ToProto(local.state));
  entry->set_local_bytes(local.bytes);
  entry->set_local_path(local.path.string());
}

}  // namespace

absl::StatusOr<v1::ListCatalogResponse> ListCatalog(const Catalog& catalog, const ModelStore& store,
                                                    const std::vector<std::string>& ids) {
  v1::ListCatalogResponse response;
  response.set_models_dir(store.models_dir().string());
  if (ids.empty()) {
    for (const CatalogModel& model : catalog.models()) AddEntry(model, store, &response);
    return response;
  }
  for (const std::string& id : ids) {
    absl::StatusOr<const CatalogModel*> model = catalog.Lookup(id);
    if (!model.ok()) return model.status();
    AddEntry(**model, store, &response);
  }
  return response;
}

ModelServiceImpl::ModelServiceImpl(std::shared_ptr<const AgentContext> context)
    : context_(std::move(context)), store_(context_->models_dir) {}

absl::Status ModelServiceImpl::CheckIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids) const {
  for (const std::string& id : ids) {
    if (absl::StatusOr<const CatalogModel*> model = context_->catalog.Lookup(id); !model.ok()) {
      return model.status();
    }
  }
  return absl::OkStatus();
}

grpc::Status ModelServiceImpl::ListCatalog(grpc::ServerContext*,
                                           const v1::ListCatalogRequest* request,
                                           v1::ListCatalogResponse* response) {
  absl::StatusOr<v1::ListCatalogResponse> result =
      llorch::ListCatalog(context_->catalog, store_,
                          std::vector<std::string>(request->ids().begin(), request->ids().end()));
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

// The store commands below arrive with the model store release; their ids are checked now so a
// typo is reported as such rather than as "not available".

grpc::Status ModelServiceImpl::ListModels(grpc::ServerContext*, const v1::ListModelsRequest*,
                                          v1::ListModelsResponse*) {
  return NotAvailableYet("models list");
}

grpc::Status ModelServiceImpl::GetModelInfo(grpc::ServerContext*,
                                            const v1::GetModelInfoRequest* request,
                                            v1::ModelInfo*) {
  if (absl::StatusOr<const CatalogModel*> model = context_->catalog.Lookup(request->id());
      !model.ok()) {
    return ToGrpcStatus(model.status());
  }
  return NotAvailableYet("models info");
}

grpc::Status ModelServiceImpl::DownloadModel(grpc::ServerContext*,
                                             const v1::DownloadModelRequest* request,
                                             grpc::ServerWriter<v1::OperationEvent>*) {
  if (absl::Status status = CheckIds(request->ids()); !status.ok()) return ToGrpcStatus(status);
  return NotAvailableYet("models download");
}

grpc::Status ModelServiceImpl::VerifyModel(grpc::ServerContext*,
                                           const v1::VerifyModelRequest* request,
                                           grpc::ServerWriter<v1::OperationEvent>*) {
  if (absl::Status status = CheckIds(request->ids()); !status.ok()) return ToGrpcStatus(status);
  return NotAvailableYet("models verify");
}

grpc::Status ModelServiceImpl::DeleteModel(grpc::ServerContext*,
                                           const v1::DeleteModelRequest* request,
                                           v1::DeleteModelResponse*) {
  if (absl::StatusOr<const CatalogModel*> model = context_->catalog.Lookup(request->id());
      !model.ok()) {
    return ToGrpcStatus(model.status());
  }
  return NotAvailableYet("models delete");
}

grpc::Status ModelServiceImpl::GetDiskUsage(grpc::ServerContext*, const v1::GetDiskUsageRequest*,
                                            v1::GetDiskUsageResponse*) {
  return NotAvailableYet("models du");
}

}  // namespace llorch
