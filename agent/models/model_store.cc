#include "agent/models/model_store.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"
#include "common/status.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace fs = std::filesystem;
namespace {

constexpr char kMetadataDir[] = ".llorch";
constexpr char kHfDownloadDir[] = ".cache/huggingface/download";

bool IsRegularFile(const fs::path& path, uint64_t* size) {
  std::error_code ec;
  fs::file_status status = fs::symlink_status(path, ec);
  if (ec || !fs::is_regular_file(status)) return false;
  *size = fs::file_size(path, ec);
  return !ec;
}

bool Exists(const fs::path& path) {
  std::error_code ec;
  return fs::exists(fs::symlink_status(path, ec));
}

// Bytes held by our own partial-download files for `file` in `metadata_dir`.
bool FindOwnPartial(const fs::path& metadata_dir, const std::string& file, uint64_t* bytes) {
  std::error_code ec;
  bool found = false;
  const std::string prefix = file + ".partial";
  for (fs::directory_iterator it(metadata_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (!absl::StartsWith(it->path().filename().string(), prefix)) continue;
    found = true;
    uint64_t size = 0;
    if (IsRegularFile(it->path(), &size)) *bytes += size;
  }
  return found;
}

struct Owner {
  const CatalogModel* model = nullptr;
  bool partial = false;
  bool lock = false;  // a ModelLock's file: there only while someone works on the model
};

// Which catalog model owns the file at `relative` (to the models dir), by the layout above.
Owner Classify(const Catalog& catalog, const fs::path& models_dir, const fs::path& relative) {
  auto it = relative.begin();
  if (it == relative.end()) return {};
  const std::string dir = it->string();
  const std::string rest = relative.lexically_relative(dir).generic_string();
  std::vector<const CatalogModel*> in_dir;
  for (const CatalogModel& model : catalog.models()) {
    if (model.dir == dir) in_dir.push_back(&model);
  }
  // The model directory itself, listed because it is a symlink: the first model using it.
  if (rest == "." && !in_dir.empty()) return {in_dir.front(), false};
  for (const CatalogModel* model : in_dir) {
    if (rest == model->file) return {model, false};
    for (const std::string& former : model->former_files) {
      if (rest == former) return {model, false};
    }
    const std::string own_prefix = absl::StrCat(kMetadataDir, "/", model->file, ".");
    if (absl::StartsWith(rest, own_prefix)) {
      const absl::string_view suffix = absl::string_view(rest).substr(own_prefix.size());
      if (suffix == "lock") return {model, false, true};
      // The manifest and the record of verified conversion sources describe finished work.
      return {model, suffix != "manifest.json" && suffix != "sources.json"};
    }
    const std::string hf_prefix = absl::StrCat(kHfDownloadDir, "/", model->file, ".");
    if (absl::StartsWith(rest, hf_prefix)) return {model, true};
    if (model->conversion &&
        (absl::StartsWith(rest, "source/") || absl::StartsWith(rest, "pytorch/"))) {
      return {model, !Exists(models_dir / dir / model->file)};
    }
  }
  // The hf CLI names its incomplete downloads by a hash: give them to the model in this
  // directory that has an hf lock but no finished file, if there is exactly one.
  if (absl::StartsWith(rest, absl::StrCat(kHfDownloadDir, "/")) &&
      absl::EndsWith(rest, ".incomplete")) {
    const CatalogModel* owner = nullptr;
    int candidates = 0;
    for (const CatalogModel* model : in_dir) {
      if (Exists(models_dir / dir / kHfDownloadDir / (model->file + ".lock")) &&
          !Exists(models_dir / dir / model->file)) {
        owner = model;
        ++candidates;
      }
    }
    if (candidates == 1) return {owner, true};
  }
  return {};
}

}  // namespace

ModelStore::ModelStore(fs::path models_dir) : models_dir_(std::move(models_dir)) {}

fs::path ModelStore::ModelPath(const CatalogModel& model) const {
  return models_dir_ / model.dir / model.file;
}

fs::path ModelStore::MetadataDir(const CatalogModel& model) const {
  return models_dir_ / model.dir / kMetadataDir;
}

fs::path ModelStore::ManifestPath(const CatalogModel& model) const {
  return MetadataDir(model) / (model.file + ".manifest.json");
}

fs::path ModelStore::LockPath(const CatalogModel& model) const {
  return MetadataDir(model) / (model.file + ".lock");
}

std::optional<Manifest> ModelStore::ReadManifest(const CatalogModel& model) const {
  std::ifstream in(ManifestPath(model));
  if (!in) return std::nullopt;
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("size") || !json["size"].is_number_unsigned()) {
    return std::nullopt;
  }
  Manifest manifest;
  manifest.size = json["size"].get<uint64_t>();
  auto text = [&](const char* key) {
    return json.contains(key) && json[key].is_string() ? json[key].get<std::string>() : "";
  };
  manifest.repo = text("repo");
  manifest.revision_commit = text("revision_commit");
  manifest.file = text("file");
  manifest.sha256 = text("sha256");
  manifest.upstream_etag = text("upstream_etag");
  if (json.contains("downloaded_at") && json["downloaded_at"].is_number_integer()) {
    manifest.downloaded_at = json["downloaded_at"].get<int64_t>();
  }
  return manifest;
}

absl::Status ModelStore::RemoveManifest(const CatalogModel& model) const {
  std::error_code ec;
  fs::remove(ManifestPath(model), ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot remove ", ManifestPath(model).string(), ": ", ec.message()));
  }
  return absl::OkStatus();
}

absl::Status ModelStore::WriteManifest(const CatalogModel& model, const Manifest& manifest) const {
  std::error_code ec;
  fs::create_directories(MetadataDir(model), ec);
  if (ec) {
    return absl::InternalError(
        absl::StrCat("cannot create ", MetadataDir(model).string(), ": ", ec.message()));
  }
  nlohmann::json json = {{"repo", manifest.repo},
                         {"revision_commit", manifest.revision_commit},
                         {"file", manifest.file},
                         {"size", manifest.size},
                         {"sha256", manifest.sha256},
                         {"upstream_etag", manifest.upstream_etag},
                         {"downloaded_at", manifest.downloaded_at}};
  return WriteFileAtomically(ManifestPath(model).string(), json.dump(2) + "\n");
}

absl::Status ModelStore::CheckDirIsNoSymlink(const CatalogModel& model) const {
  std::error_code ec;
  const fs::path dir = models_dir_ / model.dir;
  if (!fs::is_symlink(fs::symlink_status(dir, ec))) return absl::OkStatus();
  return WithHint(absl::FailedPreconditionError(absl::StrCat(
                      dir.string(), " is a symlink; llorch-pool reads, verifies and deletes "
                      "nothing through one")),
                  "replace the link with a directory (or point models_dir at the other volume)");
}

std::optional<fs::path> ModelStore::FormerFile(const CatalogModel& model) const {
  uint64_t size = 0;
  if (Exists(ModelPath(model))) return std::nullopt;
  for (const std::string& former : model.former_files) {
    const fs::path path = models_dir_ / model.dir / former;
    if (IsRegularFile(path, &size)) return path;
  }
  return std::nullopt;
}

absl::StatusOr<std::string> ModelStore::RenameFormerFile(const CatalogModel& model) const {
  if (absl::Status status = CheckDirIsNoSymlink(model); !status.ok()) return status;
  std::optional<fs::path> former = FormerFile(model);
  if (!former) return std::string();
  if (absl::Status status = RenameDurably(former->string(), ModelPath(model).string());
      !status.ok()) {
    return status;
  }
  return former->filename().string();
}

LocalModel ModelStore::Inspect(const CatalogModel& model) const {
  LocalModel local;
  local.path = ModelPath(model);
  if (!CheckDirIsNoSymlink(model).ok()) {
    local.state = LocalState::kUnverified;
    return local;
  }
  uint64_t size = 0;
  if (IsRegularFile(local.path, &size)) {
    local.bytes = size;
    std::optional<Manifest> manifest = ReadManifest(model);
    local.state =
        manifest && manifest->size == size ? LocalState::kDownloaded : LocalState::kUnverified;
    return local;
  }
  if (std::optional<fs::path> former = FormerFile(model)) {
    IsRegularFile(*former, &local.bytes);
    local.state = LocalState::kUnverified;
    return local;
  }
  const fs::path dir = models_dir_ / model.dir;
  const bool hf_partial = Exists(dir / kHfDownloadDir / (model.file + ".lock"));
  const bool own_partial = FindOwnPartial(MetadataDir(model), model.file, &local.bytes);
  // An interrupted conversion leaves its source files without the converted output.
  const bool conversion_partial =
      model.conversion && (Exists(dir / "source") || Exists(dir / "pytorch"));
  if (hf_partial || own_partial || conversion_partial) local.state = LocalState::kPartial;
  return local;
}

StoreScan ModelStore::Scan(const Catalog& catalog) const {
  StoreScan scan;
  std::vector<StoreScan::Model> by_model(catalog.models().size());
  std::error_code ec;
  for (fs::recursive_directory_iterator
           it(models_dir_, fs::directory_options::skip_permission_denied, ec),
       end;
       !ec && it != end; it.increment(ec)) {
    fs::file_status status = it->symlink_status(ec);
    if (ec || fs::is_directory(status)) continue;
    StoreFile file;
    const fs::path relative = it->path().lexically_relative(models_dir_);
    file.path = relative.generic_string();
    uint64_t size = 0;
    if (fs::is_regular_file(status) && IsRegularFile(it->path(), &size)) file.bytes = size;
    Owner owner = Classify(catalog, models_dir_, relative);
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
    std::sort(by_model[i].files.begin(), by_model[i].files.end(),
              [](const StoreFile& a, const StoreFile& b) { return a.path < b.path; });
    scan.models.push_back(std::move(by_model[i]));
  }
  std::sort(scan.unknown.begin(), scan.unknown.end(),
            [](const StoreFile& a, const StoreFile& b) { return a.path < b.path; });
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
  if (absl::Status status = CheckDirIsNoSymlink(model); !status.ok()) return status;
  std::error_code ec;
  std::vector<StoreFile> files = OwnedFiles(catalog, model);
  std::set<fs::path, std::greater<>> dirs;  // deepest first
  for (const StoreFile& file : files) {
    const fs::path path = models_dir_ / file.path;
    // remove() never follows a symlink: a link is removed, not its target.
    if (!fs::remove(path, ec) && ec) {
      return absl::InternalError(absl::StrCat("cannot remove ", path.string(), ": ", ec.message()));
    }
    for (fs::path parent = path.parent_path(); parent != models_dir_ && parent.has_relative_path();
         parent = parent.parent_path()) {
      dirs.insert(parent);
    }
  }
  for (const fs::path& empty : dirs) {
    if (fs::is_empty(empty, ec)) fs::remove(empty, ec);
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
