#include "agent/models/model_pinning.h"

#include <mutex>
#include <optional>

#include "absl/strings/str_cat.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

bool SamePin(const ModelPin& a, const ModelPin& b) {
  if (a.repo != b.repo || a.revision != b.revision || a.commit != b.commit ||
      a.files.size() != b.files.size()) {
    return false;
  }
  for (size_t i = 0; i < a.files.size(); ++i) {
    if (a.files[i].name != b.files[i].name || a.files[i].sha256 != b.files[i].sha256 ||
        a.files[i].size != b.files[i].size) {
      return false;
    }
  }
  return true;
}

// What the Hub has now for `model` as a pin: the commit its revision resolves to and, for a GGUF
// model, its file's SHA-256 and size there.
absl::StatusOr<ModelPin> PinOfHub(const HubClient& hub, const CatalogModel& model,
                                  const std::function<bool()>& cancelled) {
  const std::string path = model.conversion ? "config.json" : model.file;
  absl::StatusOr<RemoteFile> remote = hub.Resolve(model.repo, model.revision, path, cancelled);
  if (!remote.ok()) return remote.status();
  ModelPin pin;
  pin.repo = model.repo;
  pin.revision = model.revision;
  pin.commit = remote->commit;
  if (model.conversion) return pin;
  if (remote->sha256.empty()) {
    return absl::FailedPreconditionError(
        absl::StrCat("the Hub gives no SHA-256 for ", model.file, " in ", model.repo,
                     " (its etag is a git blob id: not an LFS file), so it cannot be pinned"));
  }
  pin.files.push_back({model.file, remote->sha256, remote->size});
  return pin;
}

std::string ErrorText(const absl::Status& status) {
  const std::optional<std::string> hint = GetHint(status);
  return absl::StrCat(status.message(), hint ? absl::StrCat("; ", *hint) : "");
}

}  // namespace

void ToProto(const ModelPin& pin, const CatalogModel& model, const std::string& lock_file,
             v1::ModelPin* out) {
  out->set_revision(pin.revision);
  out->set_commit(pin.commit);
  for (const PinnedFile& file : pin.files) {
    v1::PinnedFile* pinned = out->add_files();
    pinned->set_name(file.name);
    pinned->set_sha256(file.sha256);
    pinned->set_size_bytes(file.size);
  }
  out->set_stale(PinMismatch(pin, model));
  out->set_lock_file(lock_file);
}

absl::StatusOr<v1::LockModelsResponse> PinModels(const std::vector<const CatalogModel*>& models,
                                                 LockFile& lock_file, const HubOptions& options,
                                                 bool update, bool unpin,
                                                 const std::function<bool()>& cancelled) {
  if (lock_file.path().empty()) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(
                     "the agent uses the built-in catalog and no lock file is configured"),
                 "set `catalog_lock = \"/etc/llorch/catalog.lock.toml\"` (any path) in the "
                 "agent's configuration, or use a catalog file (`catalog`): its lock file goes "
                 "beside it"),
        reasons::kNoLockFile);
  }
  const HubClient hub(options);
  if (!unpin) {
    if (absl::Status online = hub.CheckOnline("pinning models"); !online.ok()) return online;
  }
  std::lock_guard guard(lock_file.update_mutex());
  CatalogLock lock = lock_file.Get();
  v1::LockModelsResponse response;
  response.set_lock_file(lock_file.path());
  bool changed = false;
  for (const CatalogModel* model : models) {
    if (cancelled && cancelled()) return absl::CancelledError("models lock was cancelled");
    v1::LockedModel* out = response.add_models();
    out->set_id(model->id);
    const ModelPin* existing = lock.Find(model->id);
    if (unpin) {
      out->set_action(existing ? v1::LockedModel::ACTION_UNPINNED
                               : v1::LockedModel::ACTION_NOT_PINNED);
      if (existing) {
        lock.Remove(model->id);
        changed = true;
      }
      continue;
    }
    absl::StatusOr<ModelPin> fresh = PinOfHub(hub, *model, cancelled);
    if (absl::IsCancelled(fresh.status())) return fresh.status();
    if (!fresh.ok()) {
      out->set_action(v1::LockedModel::ACTION_FAILED);
      out->set_error(ErrorText(fresh.status()));
      if (existing) ToProto(*existing, *model, lock_file.path(), out->mutable_pin());
      continue;
    }
    out->set_hub_commit(fresh->commit);
    // A pin that no longer fits the catalog entry is pinned again without --update: the
    // catalog was changed on purpose.
    const bool keep = existing && (SamePin(*existing, *fresh) ||
                                   (!update && PinMismatch(*existing, *model).empty()));
    if (keep) {
      out->set_action(v1::LockedModel::ACTION_KEPT);
      ToProto(*existing, *model, lock_file.path(), out->mutable_pin());
      continue;
    }
    if (existing) out->set_previous_commit(existing->commit);
    out->set_action(existing ? v1::LockedModel::ACTION_UPDATED : v1::LockedModel::ACTION_PINNED);
    lock.Set(model->id, *fresh);
    ToProto(*lock.Find(model->id), *model, lock_file.path(), out->mutable_pin());
    changed = true;
  }
  if (changed) {
    if (absl::Status stored = lock_file.Store(lock); !stored.ok()) return stored;
  }
  response.set_written(changed);
  return response;
}

}  // namespace llorch
