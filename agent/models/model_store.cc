#include "agent/models/model_store.h"

#include <fstream>
#include <system_error>

#include "nlohmann/json.hpp"

namespace llorch {
namespace fs = std::filesystem;
namespace {

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

// The manifest's recorded size, or -1 when it is missing or unreadable.
int64_t ManifestSize(const fs::path& manifest_path) {
  std::ifstream in(manifest_path);
  if (!in) return -1;
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!manifest.is_object() || !manifest.contains("size") ||
      !manifest["size"].is_number_unsigned()) {
    return -1;
  }
  return manifest["size"].get<int64_t>();
}

// Bytes held by our own partial-download files for `file` in `metadata_dir`.
bool FindOwnPartial(const fs::path& metadata_dir, const std::string& file, uint64_t* bytes) {
  std::error_code ec;
  bool found = false;
  const std::string prefix = file + ".partial";
  for (fs::directory_iterator it(metadata_dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind(prefix, 0) != 0) continue;
    found = true;
    uint64_t size = 0;
    if (IsRegularFile(it->path(), &size)) *bytes += size;
  }
  return found;
}

}  // namespace

ModelStore::ModelStore(fs::path models_dir) : models_dir_(std::move(models_dir)) {}

fs::path ModelStore::ModelPath(const CatalogModel& model) const {
  return models_dir_ / model.dir / model.file;
}

fs::path ModelStore::MetadataDir(const CatalogModel& model) const {
  return models_dir_ / model.dir / ".llorch";
}

fs::path ModelStore::ManifestPath(const CatalogModel& model) const {
  return MetadataDir(model) / (model.file + ".manifest.json");
}

LocalModel ModelStore::Inspect(const CatalogModel& model) const {
  LocalModel local;
  local.path = ModelPath(model);
  uint64_t size = 0;
  if (IsRegularFile(local.path, &size)) {
    local.bytes = size;
    int64_t manifest_size = ManifestSize(ManifestPath(model));
    local.state = manifest_size >= 0 && static_cast<uint64_t>(manifest_size) == size
                      ? LocalState::kDownloaded
                      : LocalState::kUnverified;
    return local;
  }
  const fs::path dir = models_dir_ / model.dir;
  const bool hf_partial = Exists(dir / ".cache/huggingface/download" / (model.file + ".lock"));
  const bool own_partial = FindOwnPartial(MetadataDir(model), model.file, &local.bytes);
  // An interrupted conversion leaves its source files (`source/`, or `pytorch/` from the bash
  // scripts) without the converted output.
  const bool conversion_partial =
      model.conversion && (Exists(dir / "source") || Exists(dir / "pytorch"));
  if (hf_partial || own_partial || conversion_partial) local.state = LocalState::kPartial;
  return local;
}

}  // namespace llorch
