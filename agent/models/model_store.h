// The on-disk model store: where a catalog model's files live and what state they are in.
//
// Layout (kept from the bash scripts so existing hosts keep their files):
//   <models_dir>/<dir>/<file>                         the model file
//   <models_dir>/<dir>/<former file>                  the same under a name older hosts used
//   <models_dir>/<dir>/.llorch/<file>.manifest.json   our manifest: proof the bytes were verified
//   <models_dir>/<dir>/.llorch/<file>.partial*        our partial-download state
//   <models_dir>/<dir>/.llorch/<file>.sources.json    conversion sources verified so far
//   <models_dir>/<dir>/.llorch/<file>.lock            held while a download or delete runs
//   <models_dir>/<dir>/.cache/huggingface/download/   the `hf` CLI's partial-download state
//   <models_dir>/<dir>/source/, pytorch/              conversion sources (pytorch/: bash scripts)
// A model owns its files, not its directory: qwen and qwen-fp16 share `qwen/`. Nothing here
// follows a symlink: a symlinked file or model directory is listed as such (the link itself,
// owned by the model), never read through or deleted through.
#ifndef LLORCH_AGENT_MODELS_MODEL_STORE_H_
#define LLORCH_AGENT_MODELS_MODEL_STORE_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
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

// The record written once a model file's SHA-256 was checked.
struct Manifest {
  std::string repo;
  std::string revision_commit;
  std::string file;
  uint64_t size = 0;
  std::string sha256;  // lower-case hex
  std::string upstream_etag;
  int64_t downloaded_at = 0;  // unix seconds
};

// One file in the models directory.
struct StoreFile {
  std::string path;  // relative to the models directory
  uint64_t bytes = 0;
  std::string model_id;  // owner; "" when no catalog entry owns it
  bool partial = false;  // download or conversion state rather than a finished file
};

// Everything in the models directory, by owner.
struct StoreScan {
  struct Model {
    const CatalogModel* model = nullptr;
    LocalModel local;
    std::vector<StoreFile> files;
    uint64_t bytes = 0;
  };
  std::vector<Model> models;       // models with any file, in catalog order
  std::vector<StoreFile> unknown;  // files no catalog entry owns
  uint64_t total_bytes = 0;
};

struct DiskSpace {
  uint64_t total_bytes = 0;
  uint64_t free_bytes = 0;  // available to this user
};

class ModelStore {
 public:
  explicit ModelStore(std::filesystem::path models_dir);

  const std::filesystem::path& models_dir() const { return models_dir_; }

  std::filesystem::path ModelPath(const CatalogModel& model) const;
  std::filesystem::path ManifestPath(const CatalogModel& model) const;
  // The ModelLock's file; never listed as one of the model's files.
  std::filesystem::path LockPath(const CatalogModel& model) const;

  // Reads the model's state from disk. Never fails: unreadable state counts as absent. A model
  // directory that is a symlink is not looked through: the model is kUnverified (something is
  // there that nothing here vouches for).
  LocalModel Inspect(const CatalogModel& model) const;

  // The model file under one of its former names (CatalogModel::former_files), when one is there
  // as a regular file and the file under its current name is not. Counts as unverified.
  std::optional<std::filesystem::path> FormerFile(const CatalogModel& model) const;
  // Gives the FormerFile() its current name (rename, fsync of the directory) and returns the
  // former name; "" when there is none. The caller holds the ModelLock.
  absl::StatusOr<std::string> RenameFormerFile(const CatalogModel& model) const;

  // FailedPrecondition, with a hint, when <models_dir>/<dir> is a symlink: nothing reads,
  // verifies or deletes through one.
  absl::Status CheckDirIsNoSymlink(const CatalogModel& model) const;

  // The manifest, if present and well-formed.
  std::optional<Manifest> ReadManifest(const CatalogModel& model) const;
  // Writes the manifest atomically, creating the metadata directory.
  absl::Status WriteManifest(const CatalogModel& model, const Manifest& manifest) const;
  // Removes the manifest (a missing one is fine): the file stays, no longer vouched for, so the
  // model counts as unverified. Done before a file is replaced, so that a crash in between never
  // leaves a manifest vouching for other bytes, and when a verify finds other bytes.
  absl::Status RemoveManifest(const CatalogModel& model) const;

  // Walks the models directory (a missing one is empty) and sorts every file to its owner.
  StoreScan Scan(const Catalog& catalog) const;

  // The files `model` owns, as Scan would list them.
  std::vector<StoreFile> OwnedFiles(const Catalog& catalog, const CatalogModel& model) const;

  // Removes the files `model` owns and the directories that become empty; returns what went.
  // Refuses (FailedPrecondition) when the model's directory is reached through a symlink.
  absl::StatusOr<std::vector<StoreFile>> Delete(const Catalog& catalog,
                                                const CatalogModel& model) const;

  // Space on the filesystem holding the models directory (or its nearest existing parent).
  absl::StatusOr<DiskSpace> FreeSpace() const;

 private:
  std::filesystem::path MetadataDir(const CatalogModel& model) const;

  std::filesystem::path models_dir_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_MODEL_STORE_H_
