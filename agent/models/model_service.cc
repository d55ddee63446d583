#include "agent/models/model_service.h"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <random>

#include "agent/models/model_pinning.h"
#include "agent/models/model_requests.h"
#include "agent/models/model_verifier.h"
#include "agent/models/store/gguf_reader.h"
#include "agent/models/store/model_lock.h"
#include "agent/models/store/sha256_file.h"
#include "agent/ops/operation_stream.h"
#include "agent/rpc/grpc_status.h"
#include "agent/rpc/request_rules.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/hub_env.h"
#include "common/status.h"

namespace llorch {
namespace v1 = pool::v1;

namespace {

// Why a model is refused, and what to do; "" when it is not.
std::string RefusedText(const LocalModel& local) {
  if (local.refused.ok()) return "";
  const std::optional<std::string> hint = GetHint(local.refused);
  return absl::StrCat(local.refused.message(), hint ? absl::StrCat("; ", *hint) : "");
}

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
    case LocalState::kRefused:
      return v1::DOWNLOAD_STATE_REFUSED;
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

void ToProto(const CatalogModel& model, const LocalModel& local, const LockFile* pins,
             v1::CatalogEntry* entry) {
  ToProto(model, entry->mutable_model());
  if (std::optional<ModelPin> pin = pins ? pins->Find(model.id) : std::nullopt) {
    ToProto(*pin, model, pins->path(), entry->mutable_model()->mutable_pin());
  }
  entry->set_state(ToProto(local.state));
  entry->set_local_bytes(local.bytes);
  entry->set_local_path(local.path.string());
  entry->set_refused(RefusedText(local));
}

void AddEntry(const CatalogModel& model, const ModelStore& store, const LockFile* pins,
              v1::ListCatalogResponse* out) {
  ToProto(model, store.Inspect(model), pins, out->add_entries());
}

// What `models verify` checks `model` against when it is pinned (and the pin fits it); nullopt
// otherwise. A converted model's pin names no file: its GGUF file is made here.
std::optional<UpstreamFile> PinnedUpstream(const LockFile* pins, const CatalogModel& model) {
  std::optional<ModelPin> pin = pins ? pins->Find(model.id) : std::nullopt;
  if (!pin || model.conversion || !PinMismatch(*pin, model).empty()) return std::nullopt;
  const PinnedFile* file = pin->File(model.file);
  return UpstreamFile{file->sha256, file->size, pin->commit, file->sha256};
}

void ToProto(const StoreFile& file, v1::LocalFile* out) {
  out->set_path(file.path);
  out->set_size_bytes(file.bytes);
  out->set_model_id(file.model_id);
  out->set_partial(file.partial);
  out->set_symlink_target(file.symlink_target);
}

void ToProto(const StoreScan::Model& entry, v1::LocalModel* out) {
  out->set_id(entry.model->id);
  out->set_state(ToProto(entry.local.state));
  for (const StoreFile& file : entry.files) ToProto(file, out->add_files());
  out->set_total_bytes(entry.bytes);
  out->set_refused(RefusedText(entry.local));
}

void ToProto(const GgufSummary& gguf, v1::GgufMetadata* out) {
  out->set_version(gguf.version);
  out->set_architecture(gguf.architecture);
  out->set_name(gguf.name);
  out->set_context_length(gguf.context_length);
  out->set_embedding_length(gguf.embedding_length);
  out->set_block_count(gguf.block_count);
  out->set_file_type(gguf.file_type);
  out->set_tensor_count(gguf.tensor_count);
  out->set_parameter_count(gguf.parameter_count);
}

// The model's config.json (a conversion's source, or one left next to the file), up to 1 MiB;
// never read through a symlink.
std::string ReadConfigJson(const ModelStore& store, const CatalogModel& model) {
  constexpr uint64_t kMaxBytes = 1 << 20;
  for (const char* dir : {"source", "pytorch", ""}) {
    absl::StatusOr<DirFd> opened = store.OpenDir(model, dir, false);
    if (!opened.ok()) continue;
    absl::StatusOr<std::string> text = opened->ReadFile("config.json", kMaxBytes);
    if (text.ok()) return *std::move(text);
  }
  return "";
}

absl::Status FillDiskSpace(const ModelStore& store, v1::DiskSpace* out) {
  absl::StatusOr<DiskSpace> space = store.FreeSpace();
  if (!space.ok()) return space.status();
  out->set_path(store.models_dir().string());
  out->set_total_bytes(space->total_bytes);
  out->set_free_bytes(space->free_bytes);
  return absl::OkStatus();
}

// The models named by `ids` (all known), each once, in the order first named.
std::vector<const CatalogModel*> UniqueModels(
    const Catalog& catalog, const google::protobuf::RepeatedPtrField<std::string>& ids) {
  std::vector<const CatalogModel*> models;
  for (const std::string& id : ids) {
    const CatalogModel* model = catalog.Find(id);
    if (std::find(models.begin(), models.end(), model) == models.end()) models.push_back(model);
  }
  return models;
}

// Operation::target: the model ids, comma-separated.
std::string Target(const std::vector<const CatalogModel*>& models) {
  std::string target;
  for (const CatalogModel* model : models) target += (target.empty() ? "" : ",") + model->id;
  return target;
}

// The Hub token the caller passed with the call (metadata kHubTokenMetadataKey); "" when none.
// InvalidField when it is given twice or cannot be a token; the error never quotes it.
absl::StatusOr<std::string> CallerHubToken(const grpc::ServerContext* context) {
  if (context == nullptr) return std::string();
  const auto& metadata = context->client_metadata();
  const auto [first, end] = metadata.equal_range(kHubTokenMetadataKey);
  if (first == end) return std::string();
  constexpr char kHint[] =
      "send the bare token once, as HF_TOKEN holds it (llorch-pool sends its HF_TOKEN or `hf "
      "auth login` token)";
  if (std::next(first) != end) {
    return InvalidField(kHubTokenMetadataKey, "given more than once", kHint);
  }
  std::string token(first->second.data(), first->second.size());
  if (const std::string problem = HubTokenProblem(token); !problem.empty()) {
    return InvalidField(kHubTokenMetadataKey, problem, kHint);
  }
  return token;
}

// `hub` with the caller's token, when there is one, instead of the agent's own.
HubOptions WithCallerToken(HubOptions hub, std::string token) {
  if (token.empty()) return hub;
  hub.token = std::move(token);
  hub.token_source = absl::StrCat("the request (", kHubTokenMetadataKey,
                                  ": llorch-pool's HF_TOKEN or `hf auth login` token)");
  return hub;
}

// 32 random hex digits, different in every agent: what a caller's token is hashed with before
// it becomes part of a join key, so that not even the agent's memory holds it there.
std::string NewJoinSalt() {
  std::random_device random;
  std::string salt;
  for (int i = 0; i < 4; ++i) absl::StrAppend(&salt, absl::Hex(random(), absl::kZeroPad8));
  return salt;
}

// A file without a manifest is checked against the Hub only when it answers quickly: verify is
// about the disk, and an unreachable Hub must not hold it up for long.
HubOptions VerifyLookupOptions(HubOptions options) {
  options.retry.max_attempts = 2;
  options.connect_timeout = absl::Seconds(5);
  options.stall_timeout = absl::Seconds(10);
  return options;
}

// Tells `events` (none when null) that `model` changed: its state now, the operation that did
// it ("" for none) and, when installed, its manifest.
void PublishChange(EventBus* events, const ModelStore& store, const CatalogModel& model,
                   v1::ModelChange::Kind kind, absl::string_view operation_id,
                   const v1::Manifest* manifest = nullptr) {
  if (events == nullptr) return;
  v1::AgentEvent event;
  v1::ModelChange* change = event.mutable_model();
  change->set_kind(kind);
  change->set_model_id(model.id);
  change->set_state(ToProto(store.Inspect(model).state));
  change->set_operation_id(std::string(operation_id));
  if (manifest != nullptr) *change->mutable_manifest() = *manifest;
  events->Publish(std::move(event));
}

// What a verification changed about `model`: adopted (installed) or withdrawn (unverified).
void PublishVerified(EventBus* events, const ModelStore& store, const CatalogModel& model,
                     const v1::ModelVerification& verification, absl::string_view operation_id) {
  for (const v1::FileVerification& file : verification.files()) {
    if (file.adopted()) {
      v1::Manifest manifest;
      if (std::optional<Manifest> written = store.ReadManifest(model)) ToProto(*written, &manifest);
      PublishChange(events, store, model, v1::ModelChange::KIND_INSTALLED, operation_id, &manifest);
    } else if (file.manifest_withdrawn()) {
      PublishChange(events, store, model, v1::ModelChange::KIND_UNVERIFIED, operation_id);
    }
  }
}

// The work of a verify operation: hash every model's file with byte progress over all of them;
// what it changes goes to `events` (none when null).
void RunVerify(const ModelStore& store, const std::vector<const CatalogModel*>& models,
               const UpstreamLookup& lookup, const LockFile* pins, EventBus* events,
               Operation& op) {
  uint64_t total = 0;
  for (const CatalogModel* model : models) total += store.Inspect(*model).bytes;
  v1::Progress progress;
  progress.set_phase("hash");
  progress.set_unit(v1::PROGRESS_UNIT_BYTES);
  progress.set_total(total);
  const absl::Time start = absl::Now();
  uint64_t finished_bytes = 0;
  v1::VerifyModelResult result;
  result.set_ok(true);
  for (const CatalogModel* model : models) {
    progress.set_current_item(model->id);
    absl::StatusOr<v1::ModelVerification> verification = VerifyModel(
        store, *model,
        [&](uint64_t done) {
          const uint64_t all_done = finished_bytes + done;
          const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
          progress.set_done(all_done);
          if (seconds > 0) {
            const double rate = static_cast<double>(all_done) / seconds;
            progress.set_rate_per_second(rate);
            if (rate > 0 && total > all_done) {
              progress.mutable_eta()->set_seconds(static_cast<int64_t>((total - all_done) / rate));
            }
          }
          op.ReportProgress(progress);
          return !op.cancel_requested();
        },
        lookup, PinnedUpstream(pins, *model));
    if (!verification.ok()) {
      op.Fail(verification.status());
      return;
    }
    PublishVerified(events, store, *model, *verification, op.id());
    finished_bytes += store.Inspect(*model).bytes;
    if (!verification->ok()) result.set_ok(false);
    *result.add_models() = std::move(*verification);
  }
  if (progress.done() != total || progress.has_eta()) {  // else the last report said it all
    progress.set_done(total);
    progress.clear_eta();
    op.ReportProgress(progress);
  }
  op.Succeed(result);
}

}  // namespace

void PublishModelInstalled(EventBus* events, const ModelStore& store, const CatalogModel& model,
                           absl::string_view operation_id, const v1::Manifest& manifest) {
  PublishChange(events, store, model, v1::ModelChange::KIND_INSTALLED, operation_id, &manifest);
}

absl::StatusOr<v1::ListCatalogResponse> ListCatalog(const Catalog& catalog, const ModelStore& store,
                                                    const std::vector<std::string>& ids,
                                                    const LockFile* pins) {
  v1::ListCatalogResponse response;
  response.set_models_dir(store.models_dir().string());
  if (ids.empty()) {
    for (const CatalogModel& model : catalog.models()) AddEntry(model, store, pins, &response);
    return response;
  }
  for (const std::string& id : ids) {
    absl::StatusOr<const CatalogModel*> model = catalog.Lookup(id);
    if (!model.ok()) return model.status();
    AddEntry(**model, store, pins, &response);
  }
  return response;
}

DownloadSettings DownloadSettingsFor(const Config& config, const std::filesystem::path& repo_root,
                                     const Environment& env) {
  const Config::Download& download = config.download;
  DownloadSettings settings;
  settings.backend = download.backend;
  settings.hub = HubOptionsFromEnvironment(env);
  settings.hub.stall_timeout = absl::Seconds(download.stall_timeout_seconds);
  settings.hub.retry.max_attempts = static_cast<int>(download.max_attempts);
  settings.fetch.connections = static_cast<int>(download.connections);
  settings.fetch.parallel_min_bytes = static_cast<uint64_t>(download.parallel_min_mib) << 20;
  settings.hf.hf_command = download.hf_command;
  settings.convert.python = config.convert.python;
  settings.convert.repo_root = repo_root;
  return settings;
}

ModelServiceImpl::ModelServiceImpl(std::shared_ptr<const Catalog> catalog,
                                   const std::filesystem::path& models_dir,
                                   DownloadSettings download_settings,
                                   std::shared_ptr<OperationRegistry> operations,
                                   std::shared_ptr<EventBus> events)
    : catalog_(std::move(catalog)),
      store_(models_dir),
      download_settings_(std::move(download_settings)),
      operations_(std::move(operations)),
      events_(std::move(events)),
      join_salt_(NewJoinSalt()),
      in_use_check_([](const CatalogModel&) { return absl::OkStatus(); }) {}

void ModelServiceImpl::SetInUseCheck(InUseCheck check) { in_use_check_ = std::move(check); }

absl::Status ModelServiceImpl::CheckIds(
    const google::protobuf::RepeatedPtrField<std::string>& ids) const {
  for (const std::string& id : ids) {
    if (absl::StatusOr<const CatalogModel*> model = catalog_->Lookup(id); !model.ok()) {
      return model.status();
    }
  }
  return absl::OkStatus();
}

grpc::Status ModelServiceImpl::ListCatalog(grpc::ServerContext*,
                                           const v1::ListCatalogRequest* request,
                                           v1::ListCatalogResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<v1::ListCatalogResponse> result = llorch::ListCatalog(
      *catalog_, store_, std::vector<std::string>(request->ids().begin(), request->ids().end()),
      download_settings_.pins.get());
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::ListModels(grpc::ServerContext*,
                                          const v1::ListModelsRequest* request,
                                          v1::ListModelsResponse* response) {
  if (absl::Status valid = CheckRequestRules(*request); !valid.ok()) return ToGrpcStatus(valid);
  StoreScan scan = store_.Scan(*catalog_);
  for (const StoreScan::Model& entry : scan.models) ToProto(entry, response->add_models());
  for (const StoreFile& file : scan.unknown) ToProto(file, response->add_unknown_files());
  response->set_total_bytes(scan.total_bytes);
  response->set_models_dir(store_.models_dir().string());
  return ToGrpcStatus(FillDiskSpace(store_, response->mutable_disk()));
}

grpc::Status ModelServiceImpl::GetModelInfo(grpc::ServerContext*,
                                            const v1::GetModelInfoRequest* request,
                                            v1::ModelInfo* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<const CatalogModel*> model = catalog_->Lookup(request->id());
  if (!model.ok()) return ToGrpcStatus(model.status());
  const CatalogModel& found = **model;
  const LocalModel local = store_.Inspect(found);
  ToProto(found, local, download_settings_.pins.get(), response->mutable_entry());
  for (const StoreFile& file : store_.OwnedFiles(*catalog_, found)) {
    ToProto(file, response->add_files());
    response->set_disk_bytes(response->disk_bytes() + file.bytes);
  }
  if (std::optional<Manifest> manifest = store_.ReadManifest(found)) {
    ToProto(*manifest, response->mutable_manifest());
  }
  response->set_config_json(ReadConfigJson(store_, found));
  if (local.state == LocalState::kUnverified || local.state == LocalState::kDownloaded) {
    absl::StatusOr<UniqueFd> fd = store_.OpenModelFile(found);
    absl::StatusOr<GgufSummary> gguf =
        fd.ok() ? ReadGgufSummaryOfOpenFile(fd->get(), local.path.string())
                : absl::StatusOr<GgufSummary>(fd.status());
    if (gguf.ok()) {
      ToProto(*gguf, response->mutable_gguf());
    } else {
      response->set_gguf_error(std::string(gguf.status().message()));
    }
  }
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::DownloadModel(grpc::ServerContext* server_context,
                                             const v1::DownloadModelRequest* request,
                                             grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  if (absl::Status status = CheckIds(request->ids()); !status.ok()) return ToGrpcStatus(status);
  const std::vector<const CatalogModel*> models = UniqueModels(*catalog_, request->ids());
  const std::string target = Target(models);
  absl::StatusOr<std::string> token = CallerHubToken(server_context);
  if (!token.ok()) return ToGrpcStatus(token.status());
  DownloadSettings settings = download_settings_;
  if (request->backend() == v1::DOWNLOAD_BACKEND_NATIVE) settings.backend = "native";
  if (request->backend() == v1::DOWNLOAD_BACKEND_HF) settings.backend = "hf";
  // The same request with the same credentials joins the operation already at work on it: a
  // caller never rides on another's token, nor swaps its own in.
  const std::string credentials =
      token->empty() ? "agent" : Sha256Of(absl::StrCat(join_salt_, ":", *token));
  if (!token->empty()) settings.hf.env["HF_TOKEN"] = *token;  // the `hf` backend's child
  settings.hub = WithCallerToken(std::move(settings.hub), *std::move(token));
  const std::string join_key =
      absl::StrCat("model.download:", target, ":", settings.backend,
                   request->force() ? ":force" : "", ":credentials=", credentials);
  return StartAndStream(
      *operations_, *request, "model.download", target, join_key,
      // `catalog` keeps what `models` point to alive while the work runs.
      [catalog = catalog_, store = store_, models, force = request->force(), settings,
       events = events_](Operation& op) {
        RunDownload(store, models, force, settings, op,
                    [&](const CatalogModel& model, const v1::Manifest& manifest) {
                      PublishModelInstalled(events.get(), store, model, op.id(), manifest);
                    });
      },
      server_context, writer);
}

grpc::Status ModelServiceImpl::VerifyModel(grpc::ServerContext* server_context,
                                           const v1::VerifyModelRequest* request,
                                           grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  if (absl::Status status = CheckIds(request->ids()); !status.ok()) return ToGrpcStatus(status);
  // --all: every model with its file on disk, or a manifest that says it should be there.
  std::vector<const CatalogModel*> models;
  if (request->all()) {
    for (const CatalogModel& model : catalog_->models()) {
      const LocalState state = store_.Inspect(model).state;
      if (state == LocalState::kDownloaded || state == LocalState::kUnverified ||
          state == LocalState::kRefused || store_.ReadManifest(model)) {
        models.push_back(&model);
      }
    }
    if (models.empty()) {
      return ToGrpcStatus(WithHint(absl::FailedPreconditionError("no model is on disk to verify"),
                                   "`llorch-pool models list` shows what is on disk"));
    }
  } else {
    models = UniqueModels(*catalog_, request->ids());
  }
  absl::StatusOr<std::string> token = CallerHubToken(server_context);
  if (!token.ok()) return ToGrpcStatus(token.status());
  return StartAndStream(
      *operations_, *request, "model.verify", Target(models), /*join_key=*/"",
      // `catalog` keeps what `models` point to alive while the work runs.
      [catalog = catalog_, store = store_, models,
       lookup = HubLookup(
           VerifyLookupOptions(WithCallerToken(download_settings_.hub, *std::move(token)))),
       pins = download_settings_.pins, events = events_](Operation& op) {
        RunVerify(store, models, lookup, pins.get(), events.get(), op);
      },
      server_context, writer);
}

grpc::Status ModelServiceImpl::DeleteModel(grpc::ServerContext*,
                                           const v1::DeleteModelRequest* request,
                                           v1::DeleteModelResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<const CatalogModel*> model = catalog_->Lookup(request->id());
  if (!model.ok()) return ToGrpcStatus(model.status());
  response->set_dry_run(request->dry_run());
  if (absl::Status status = store_.CheckDirsAreReal(**model); !status.ok()) {
    return ToGrpcStatus(status);
  }
  std::vector<StoreFile> files;
  if (request->dry_run()) {
    files = store_.OwnedFiles(*catalog_, **model);
  } else {
    if (absl::Status in_use = in_use_check_(**model); !in_use.ok()) return ToGrpcStatus(in_use);
    absl::StatusOr<ModelLock> lock =
        ModelLock::TryAcquire(store_, **model, LockHolder::OfThisProcess("", "model.delete"));
    if (!lock.ok()) return ToGrpcStatus(lock.status());
    absl::StatusOr<std::vector<StoreFile>> removed = store_.Delete(*catalog_, **model);
    if (!removed.ok()) return ToGrpcStatus(removed.status());
    files = std::move(*removed);
    PublishChange(events_.get(), store_, **model, v1::ModelChange::KIND_REMOVED, "");
  }
  for (const StoreFile& file : files) {
    ToProto(file, response->add_removed());
    response->set_freed_bytes(response->freed_bytes() + file.bytes);
  }
  return grpc::Status::OK;
}

grpc::Status ModelServiceImpl::GetDiskUsage(grpc::ServerContext*,
                                            const v1::GetDiskUsageRequest* request,
                                            v1::GetDiskUsageResponse* response) {
  if (absl::Status valid = CheckRequestRules(*request); !valid.ok()) return ToGrpcStatus(valid);
  StoreScan scan = store_.Scan(*catalog_);
  for (const StoreScan::Model& entry : scan.models) ToProto(entry, response->add_models());
  for (const StoreFile& file : scan.unknown) {
    response->set_unknown_bytes(response->unknown_bytes() + file.bytes);
  }
  response->set_total_bytes(scan.total_bytes);
  response->set_models_dir(store_.models_dir().string());
  return ToGrpcStatus(FillDiskSpace(store_, response->mutable_disk()));
}

grpc::Status ModelServiceImpl::LockModels(grpc::ServerContext* context,
                                          const v1::LockModelsRequest* request,
                                          v1::LockModelsResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  if (absl::Status status = CheckIds(request->ids()); !status.ok()) return ToGrpcStatus(status);
  std::vector<const CatalogModel*> models;
  if (request->ids().empty()) {
    for (const CatalogModel& model : catalog_->models()) models.push_back(&model);
  } else {
    models = UniqueModels(*catalog_, request->ids());
  }
  LockFile none("", CatalogLock());
  absl::StatusOr<v1::LockModelsResponse> result = PinModels(
      models, download_settings_.pins ? *download_settings_.pins : none, download_settings_.hub,
      request->update(), request->unpin(), [context] { return context->IsCancelled(); });
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = std::move(*result);
  return grpc::Status::OK;
}

}  // namespace llorch
