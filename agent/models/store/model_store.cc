#include "agent/models/store/model_store.h"

#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <set>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/models/hub/fetch_state.h"
#include "common/atomic_file.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace fs = std::filesystem;
namespace {

constexpr char kHfDownloadDir[] = ".cache/huggingface/download";
constexpr uint64_t kMaxManifestBytes = 64 << 10;

constexpr char kDirLinkHint[] =
    "replace the link with the directory itself; to keep models on another volume, point "
    "models_dir there instead (a link at models_dir itself is followed)";

// `status` (reason SYMLINK_REFUSED from a DirFd) with the hint for one of the store's
// directories.
absl::Status WithDirHint(absl::Status status) {
  if (GetReason(status) != reasons::kSymlinkRefused) return status;
  return WithHint(std::move(status), kDirLinkHint);
}

// Whether anything (a symlink included) is at `relative` below `base`, no link followed.
bool ExistsAt(const DirFd& base, const fs::path& relative) {
  absl::StatusOr<DirFd> dir = base.OpenParentOf(relative.generic_string(), false);
  return dir.ok() && dir->Stat(relative.filename().string()).has_value();
}

nlohmann::json ManifestJson(const Manifest& manifest) {
  return {{"repo", manifest.repo},
          {"revision_commit", manifest.revision_commit},
          {"file", manifest.file},
          {"size", manifest.size},
          {"sha256", manifest.sha256},
          {"upstream_etag", manifest.upstream_etag},
          {"downloaded_at", manifest.downloaded_at},
          {"verified_by", manifest.verified_by}};
}

std::optional<Manifest> ParseManifest(const nlohmann::json& json) {
  if (!json.is_object() || !json.contains("size") || !json["size"].is_number_unsigned()) {
    return std::nullopt;
  }
  Manifest manifest;
  manifest.size = json["size"].get<uint64_t>();
  auto field = [&](const char* key) {
    return json.contains(key) && json[key].is_string() ? json[key].get<std::string>() : "";
  };
  manifest.repo = field("repo");
  manifest.revision_commit = field("revision_commit");
  manifest.file = field("file");
  manifest.sha256 = field("sha256");
  manifest.upstream_etag = field("upstream_etag");
  if (json.contains("downloaded_at") && json["downloaded_at"].is_number_integer()) {
    manifest.downloaded_at = json["downloaded_at"].get<int64_t>();
  }
  if (json.contains("verified_by")) {
    manifest.verified_by = field("verified_by");
  } else if (absl::AsciiStrToLower(manifest.upstream_etag) == manifest.sha256) {
    manifest.verified_by = kVerifiedBySha256;  // written before verified_by existed
  }
  // A downloaded file's manifest names the Hub's digest that vouched for it; one naming none
  // (installed with the local hash only, before verified_by existed) vouches for nothing.
  if (manifest.verified_by.empty() && !manifest.upstream_etag.empty()) return std::nullopt;
  return manifest;
}

nlohmann::json ParseJson(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
}

std::string ManifestName(const CatalogModel& model) { return model.file + ".manifest.json"; }

// A switch record: {"manifests": [{<manifest>, "inode": N, "mtime_ns": N}, ...]}, each manifest
// holding for the file of that inode, size and modification time only.
constexpr char kSwitchManifests[] = "manifests";

// The manifest of the model file in `model_dir`: the manifest, else the one the switch record
// binds to the file in place.
std::optional<Manifest> ReadManifestIn(const DirFd& model_dir, const DirFd& metadata_dir,
                                       const CatalogModel& model) {
  absl::StatusOr<std::string> text = metadata_dir.ReadFile(ManifestName(model), kMaxManifestBytes);
  if (text.ok()) return ParseManifest(ParseJson(*text));
  if (!absl::IsNotFound(text.status())) return std::nullopt;
  text = metadata_dir.ReadFile(ModelStore::SwitchName(model), kMaxManifestBytes);
  std::optional<struct stat> info = model_dir.Stat(model.file);
  if (!text.ok() || !info || !S_ISREG(info->st_mode)) return std::nullopt;
  const nlohmann::json record = ParseJson(*text);
  if (!record.is_object() || !record.contains(kSwitchManifests) ||
      !record[kSwitchManifests].is_array()) {
    return std::nullopt;
  }
  for (const nlohmann::json& entry : record[kSwitchManifests]) {
    std::optional<Manifest> manifest = ParseManifest(entry);
    if (manifest && manifest->size == static_cast<uint64_t>(info->st_size) &&
        entry.value("inode", uint64_t{0}) == info->st_ino &&
        entry.value("mtime_ns", int64_t{0}) ==
            info->st_mtim.tv_sec * int64_t{1000000000} + info->st_mtim.tv_nsec) {
      return manifest;
    }
  }
  return std::nullopt;
}

// Whether our own partial-download or conversion files for `file` are in `metadata_dir`; adds
// to `bytes` what they hold: of a download, the bytes its state says it fetched (its data file
// is preallocated to the whole size), of anything else the size.
bool FindOwnPartial(const DirFd& metadata_dir, const std::string& file, uint64_t* bytes) {
  absl::StatusOr<std::vector<std::string>> names = metadata_dir.List();
  if (!names.ok()) return false;
  const std::string download = file + ".partial";
  bool found = false;
  for (const std::string& name : *names) {
    if (!absl::StartsWith(name, download)) continue;
    found = true;
    if (name == download) {
      *bytes += PartialFetchedBytes(metadata_dir, name);
      continue;
    }
    if (name == PartialFile::StateNameOf(download)) continue;
    std::optional<struct stat> info = metadata_dir.Stat(name);
    if (info && S_ISREG(info->st_mode)) *bytes += static_cast<uint64_t>(info->st_size);
  }
  return found;
}

struct Owner {
  const CatalogModel* model = nullptr;
  bool partial = false;
  bool lock = false;  // a ModelLock's file: there only while someone works on the model
};

// Which catalog model owns the file at `relative` (to the models dir, reached as `root`), by
// the layout above.
Owner Classify(const Catalog& catalog, const DirFd& root, const fs::path& relative) {
  auto it = relative.begin();
  if (it == relative.end()) return {};
  const std::string dir = it->string();
  const std::string rest = relative.lexically_relative(dir).generic_string();
  std::vector<const CatalogModel*> in_dir;
  for (const CatalogModel& model : catalog.models()) {
    if (model.dir == dir) in_dir.push_back(&model);
  }
  // The model directory or its metadata directory itself, listed because it is a symlink (or
  // another kind of entry): the first model using it.
  if ((rest == "." || rest == ModelStore::kMetadataDir) && !in_dir.empty()) {
    return {in_dir.front(), false};
  }
  for (const CatalogModel* model : in_dir) {
    if (rest == model->file) return {model, false};
    for (const std::string& former : model->former_files) {
      if (rest == former) return {model, false};
    }
    const std::string own_prefix = absl::StrCat(ModelStore::kMetadataDir, "/", model->file, ".");
    if (absl::StartsWith(rest, own_prefix)) {
      const absl::string_view suffix = absl::string_view(rest).substr(own_prefix.size());
      if (suffix == "lock") return {model, false, true};
      // The manifest (or a switch record of manifests) and the record of verified conversion
      // sources describe finished work.
      return {model,
              suffix != "manifest.json" && suffix != "switch.json" && suffix != "sources.json"};
    }
    const std::string hf_prefix = absl::StrCat(kHfDownloadDir, "/", model->file, ".");
    if (absl::StartsWith(rest, hf_prefix)) return {model, true};
    if (model->conversion &&
        (absl::StartsWith(rest, "source/") || absl::StartsWith(rest, "pytorch/"))) {
      return {model, !ExistsAt(root, fs::path(dir) / model->file)};
    }
  }
  // The hf CLI names its incomplete downloads by a hash: give them to the model in this
  // directory that has an hf lock but no finished file, if there is exactly one.
  if (absl::StartsWith(rest, absl::StrCat(kHfDownloadDir, "/")) &&
      absl::EndsWith(rest, ".incomplete")) {
    const CatalogModel* owner = nullptr;
    int candidates = 0;
    for (const CatalogModel* model : in_dir) {
      if (ExistsAt(root, fs::path(dir) / kHfDownloadDir / (model->file + ".lock")) &&
          !ExistsAt(root, fs::path(dir) / model->file)) {
        owner = model;
        ++candidates;
      }
    }
    if (candidates == 1) return {owner, true};
  }
  return {};
}

bool ByPath(const StoreFile& a, const StoreFile& b) { return a.path < b.path; }

}  // namespace

ModelStore::ModelStore(fs::path models_dir) : models_dir_(std::move(models_dir)) {}

fs::path ModelStore::ModelPath(const CatalogModel& model) const {
  return models_dir_ / model.dir / model.file;
}

fs::path ModelStore::ManifestPath(const CatalogModel& model) const {
  return models_dir_ / model.dir / kMetadataDir / ManifestName(model);
}

fs::path ModelStore::LockPath(const CatalogModel& model) const {
  return models_dir_ / model.dir / kMetadataDir / (model.file + ".lock");
}

absl::StatusOr<DirFd> ModelStore::OpenDir(const CatalogModel& model, absl::string_view relative,
                                          bool create) const {
  absl::StatusOr<DirFd> root = DirFd::OpenRoot(models_dir_, create);
  if (!root.ok()) return root.status();
  absl::StatusOr<DirFd> dir =
      root->OpenDir(relative.empty() ? model.dir : absl::StrCat(model.dir, "/", relative), create);
  if (!dir.ok()) return WithDirHint(dir.status());
  return dir;
}

absl::StatusOr<UniqueFd> ModelStore::OpenModelFile(const CatalogModel& model) const {
  absl::StatusOr<DirFd> dir = OpenDir(model, "", false);
  if (!dir.ok()) return dir.status();
  return dir->OpenRegularFile(model.file);
}

std::optional<Manifest> ModelStore::ReadManifest(const CatalogModel& model) const {
  absl::StatusOr<DirFd> dir = OpenDir(model, "", false);
  if (!dir.ok()) return std::nullopt;
  absl::StatusOr<DirFd> metadata_dir = dir->OpenDir(kMetadataDir, false);
  if (!metadata_dir.ok()) return std::nullopt;
  return ReadManifestIn(*dir, *metadata_dir, model);
}

absl::Status ModelStore::RemoveManifest(const CatalogModel& model) const {
  absl::StatusOr<DirFd> metadata_dir = OpenDir(model, kMetadataDir, false);
  if (absl::IsNotFound(metadata_dir.status())) return absl::OkStatus();
  if (!metadata_dir.ok()) return metadata_dir.status();
  if (absl::Status status = metadata_dir->Unlink(SwitchName(model)); !status.ok()) return status;
  return metadata_dir->Unlink(ManifestName(model));
}

absl::Status ModelStore::WriteManifest(const CatalogModel& model, const Manifest& manifest) const {
  absl::StatusOr<DirFd> metadata_dir = OpenDir(model, kMetadataDir, true);
  if (!metadata_dir.ok()) return metadata_dir.status();
  return WriteFileAtomically(*metadata_dir, ManifestName(model),
                             ManifestJson(manifest).dump(2) + "\n");
}

std::string ModelStore::SwitchName(const CatalogModel& model) {
  return model.file + ".switch.json";
}

ModelStore::FileIdentity ModelStore::IdentityOf(const struct stat& info) {
  return {static_cast<uint64_t>(info.st_ino), static_cast<uint64_t>(info.st_size),
          info.st_mtim.tv_sec * int64_t{1000000000} + info.st_mtim.tv_nsec};
}

absl::Status ModelStore::Withdraw(
    const CatalogModel& model, const DirFd& model_dir, const DirFd& metadata_dir,
    const std::optional<std::pair<Manifest, FileIdentity>>& incoming) const {
  nlohmann::json manifests = nlohmann::json::array();
  auto bind = [&](const Manifest& manifest, const FileIdentity& file) {
    nlohmann::json entry = ManifestJson(manifest);
    entry["inode"] = file.inode;
    entry["mtime_ns"] = file.mtime_ns;
    manifests.push_back(std::move(entry));
  };
  std::optional<struct stat> in_place = model_dir.Stat(model.file);
  if (std::optional<Manifest> old = ReadManifestIn(model_dir, metadata_dir, model);
      old && in_place && S_ISREG(in_place->st_mode) &&
      old->size == static_cast<uint64_t>(in_place->st_size)) {
    bind(*old, IdentityOf(*in_place));
  }
  if (incoming) bind(incoming->first, incoming->second);
  const absl::Status recorded =
      manifests.empty()
          ? metadata_dir.Unlink(SwitchName(model))
          : WriteFileAtomically(metadata_dir, SwitchName(model),
                                nlohmann::json{{kSwitchManifests, manifests}}.dump(2) + "\n");
  if (!recorded.ok()) return recorded;
  Step("switch");
  if (absl::Status status = metadata_dir.Unlink(ManifestName(model)); !status.ok()) return status;
  if (absl::Status status = metadata_dir.Sync(); !status.ok()) return status;
  Step("withdraw");
  return absl::OkStatus();
}

absl::Status ModelStore::WithdrawManifest(const CatalogModel& model) const {
  absl::StatusOr<DirFd> dir = OpenDir(model, "", false);
  if (absl::IsNotFound(dir.status())) return absl::OkStatus();
  if (!dir.ok()) return dir.status();
  absl::StatusOr<DirFd> metadata_dir = dir->OpenDir(kMetadataDir, false);
  if (absl::IsNotFound(metadata_dir.status())) return absl::OkStatus();
  if (!metadata_dir.ok()) return WithDirHint(metadata_dir.status());
  return Withdraw(model, *dir, *metadata_dir, std::nullopt);
}

absl::Status ModelStore::CheckDirsAreReal(const CatalogModel& model) const {
  absl::StatusOr<DirFd> metadata_dir = OpenDir(model, kMetadataDir, false);
  return metadata_dir.ok() || absl::IsNotFound(metadata_dir.status()) ? absl::OkStatus()
                                                                      : metadata_dir.status();
}

std::optional<fs::path> ModelStore::FormerFile(const CatalogModel& model) const {
  absl::StatusOr<DirFd> dir = OpenDir(model, "", false);
  if (!dir.ok() || dir->Stat(model.file)) return std::nullopt;
  for (const std::string& former : model.former_files) {
    std::optional<struct stat> info = dir->Stat(former);
    if (info && S_ISREG(info->st_mode)) return dir->PathOf(former);
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ModelStore::RenameFormerFile(const CatalogModel& model) const {
  if (absl::Status status = CheckDirsAreReal(model); !status.ok()) return status;
  std::optional<fs::path> former = FormerFile(model);
  if (!former) return std::string();
  absl::StatusOr<DirFd> dir = OpenDir(model, "", false);
  if (!dir.ok()) return dir.status();
  const std::string name = former->filename().string();
  if (absl::Status status = RenameDurably(*dir, name, *dir, model.file); !status.ok()) {
    return status;
  }
  return name;
}

LocalModel ModelStore::Inspect(const CatalogModel& model) const {
  LocalModel local;
  local.path = ModelPath(model);
  auto refuse = [&local](absl::Status why) {
    local.state = LocalState::kRefused;
    local.refused = std::move(why);
    return local;
  };
  absl::StatusOr<DirFd> dir = OpenDir(model, "", false);
  if (absl::IsNotFound(dir.status())) return local;
  if (!dir.ok()) return refuse(dir.status());
  absl::StatusOr<DirFd> metadata_dir = dir->OpenDir(kMetadataDir, false);
  if (!metadata_dir.ok() && !absl::IsNotFound(metadata_dir.status())) {
    return refuse(WithDirHint(metadata_dir.status()));
  }
  // The model file, else the first of its former names there.
  std::vector<std::string> names = {model.file};
  names.insert(names.end(), model.former_files.begin(), model.former_files.end());
  for (const std::string& name : names) {
    std::optional<struct stat> info = dir->Stat(name);
    if (!info) continue;
    if (!S_ISREG(info->st_mode)) {
      return refuse(WithHint(
          dir->OpenRegularFile(name).status(),
          absl::StrCat("remove it (`llorch-pool models delete ", model.id,
                       "` removes a link, never its target) or put the file itself there")));
    }
    local.bytes = static_cast<uint64_t>(info->st_size);
    std::optional<Manifest> manifest;
    if (name == model.file && metadata_dir.ok()) {
      manifest = ReadManifestIn(*dir, *metadata_dir, model);
    }
    local.state = manifest && manifest->size == local.bytes ? LocalState::kDownloaded
                                                            : LocalState::kUnverified;
    return local;
  }
  const bool hf_partial = ExistsAt(*dir, fs::path(kHfDownloadDir) / (model.file + ".lock"));
  const bool own_partial =
      metadata_dir.ok() && FindOwnPartial(*metadata_dir, model.file, &local.bytes);
  // An interrupted conversion leaves its source files without the converted output.
  const bool conversion_partial =
      model.conversion && (dir->Stat("source").has_value() || dir->Stat("pytorch").has_value());
  if (hf_partial || own_partial || conversion_partial) local.state = LocalState::kPartial;
  return local;
}

StoreScan ModelStore::Scan(const Catalog& catalog) const {
  StoreScan scan;
  absl::StatusOr<DirFd> root = DirFd::OpenRoot(models_dir_, false);
  if (!root.ok()) return scan;
  std::vector<StoreScan::Model> by_model(catalog.models().size());
  for (DirFd::TreeEntry& found : root->ListTree()) {
    StoreFile file;
    file.path = std::move(found.path);
    if (S_ISREG(found.info.st_mode)) file.bytes = static_cast<uint64_t>(found.info.st_size);
    file.symlink_target = std::move(found.symlink_target);
    Owner owner = Classify(catalog, *root, fs::path(file.path));
    if (owner.lock) continue;  // not the model's data; its holder removes it
    scan.total_bytes += file.bytes;
    if (!owner.model) {
      scan.unknown.push_back(std::move(file));
      continue;
    }
    file.model_id = owner.model->id;
    file.partial = owner.partial;
    StoreScan::Model& entry = by_model[owner.model - catalog.models().data()];
    entry.bytes += file.bytes;
    entry.files.push_back(std::move(file));
  }
  for (size_t i = 0; i < by_model.size(); ++i) {
    if (by_model[i].files.empty()) continue;
    by_model[i].model = &catalog.models()[i];
    by_model[i].local = Inspect(catalog.models()[i]);
    std::sort(by_model[i].files.begin(), by_model[i].files.end(), ByPath);
    scan.models.push_back(std::move(by_model[i]));
  }
  std::sort(scan.unknown.begin(), scan.unknown.end(), ByPath);
  return scan;
}

std::vector<StoreFile> ModelStore::OwnedFiles(const Catalog& catalog,
                                              const CatalogModel& model) const {
  for (StoreScan::Model& entry : Scan(catalog).models) {
    if (entry.model->id == model.id) return std::move(entry.files);
  }
  return {};
}

absl::StatusOr<std::vector<StoreFile>> ModelStore::Delete(const Catalog& catalog,
                                                          const CatalogModel& model) const {
  if (absl::Status status = CheckDirsAreReal(model); !status.ok()) return status;
  std::vector<StoreFile> files = OwnedFiles(catalog, model);
  if (files.empty()) return files;
  absl::StatusOr<DirFd> root = DirFd::OpenRoot(models_dir_, false);
  if (!root.ok()) return root.status();
  // Opens the directory holding `relative`; nullopt when it is gone.
  auto parent_of = [&](const fs::path& relative) -> absl::StatusOr<std::optional<DirFd>> {
    absl::StatusOr<DirFd> dir = root->OpenParentOf(relative.generic_string(), false);
    if (absl::IsNotFound(dir.status())) return std::nullopt;
    if (!dir.ok()) return dir.status();
    return std::optional<DirFd>(*std::move(dir));
  };
  std::set<fs::path, std::greater<>> dirs;  // deepest first
  for (const StoreFile& file : files) {
    const fs::path relative(file.path);
    absl::StatusOr<std::optional<DirFd>> dir = parent_of(relative);
    if (!dir.ok()) return dir.status();
    if (!*dir) continue;
    // unlinkat removes a symlink itself, never its target.
    if (absl::Status status = (*dir)->Unlink(relative.filename().string()); !status.ok()) {
      return status;
    }
    for (fs::path parent = relative.parent_path(); !parent.empty(); parent = parent.parent_path()) {
      dirs.insert(parent);
    }
  }
  for (const fs::path& empty : dirs) {
    absl::StatusOr<std::optional<DirFd>> dir = parent_of(empty);
    if (dir.ok() && *dir) (*dir)->RemoveEmptyDir(empty.filename().string());
  }
  return files;
}

absl::StatusOr<DiskSpace> ModelStore::FreeSpace() const {
  std::error_code ec;
  fs::path probe = models_dir_;
  while (!fs::exists(probe, ec) && probe.has_parent_path() && probe != probe.parent_path()) {
    probe = probe.parent_path();
  }
  struct statvfs stats {};
  if (statvfs(probe.c_str(), &stats) != 0) {
    return absl::InternalError(absl::StrCat("cannot read free space of ", probe.string()));
  }
  return DiskSpace{static_cast<uint64_t>(stats.f_blocks) * stats.f_frsize,
                   static_cast<uint64_t>(stats.f_bavail) * stats.f_frsize};
}

}  // namespace llorch
