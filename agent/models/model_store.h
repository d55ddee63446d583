// The on-disk model store: where a catalog model's files live and what state they are in.
//
// Layout (kept from the bash scripts so existing hosts keep their files):
//   <models_dir>/<dir>/<file>                         the model file
//   <models_dir>/<dir>/.llorch/<file>.manifest.json   our manifest: proof the bytes were verified
//   <models_dir>/<dir>/.llorch/<file>.partial*        our partial-download state
//   <models_dir>/<dir>/.cache/huggingface/download/   the `hf` CLI's partial-download state
// A model owns its files, not its directory: qwen and qwen-fp16 share `qwen/`.
#ifndef LLORCH_AGENT_MODELS_MODEL_STORE_H_
#define LLORCH_AGENT_MODELS_MODEL_STORE_H_

#include <cstdint>
#include <filesystem>
#include <string>

#include "agent/models/catalog.h"

namespace llorch {

enum class LocalState {
  kNotDownloaded,  // nothing of the model is on disk
  kPartial,        // an interrupted download or conversion left state behind
  kUnverified,     // the file is there, but no manifest proves its bytes
  kDownloaded,     // the file is there and its manifest matches its size
};

struct LocalModel {
  LocalState state = LocalState::kNotDownloaded;
  std::filesystem::path path;  // where the model file is or will be
  uint64_t bytes = 0;          // size of the model file, or of the partial data
};

class ModelStore {
 public:
  explicit ModelStore(std::filesystem::path models_dir);

  const std::filesystem::path& models_dir() const { return models_dir_; }

  std::filesystem::path ModelPath(const CatalogModel& model) const;
  std::filesystem::path ManifestPath(const CatalogModel& model) const;

  // Reads the model's state from disk. Never fails: unreadable state counts as absent.
  LocalModel Inspect(const CatalogModel& model) const;

 private:
  std::filesystem::path MetadataDir(const CatalogModel& model) const;

  std::filesystem::path models_dir_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_STORE_H_
