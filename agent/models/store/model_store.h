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
// A model owns its files, not its directory: qwen and qwen-fp16 share `qwen/`.
//
// Nothing below models_dir is followed through a symlink. models_dir itself is the trust root,
// opened as configured (a link there is the operator's way to put models on another volume);
// everything under it is reached through directory fds opened with O_NOFOLLOW (common/dir_fd.h),
// by this store and by every download, lock, conversion and delete. A model whose directory,
// metadata directory (.llorch) or file is a symlink (or not a directory or regular file) is
// kRefused: listed as what it is, its link target shown, never read, written, verified or
// deleted through. A download refuses it before it creates anything; a delete removes a
// symlinked model file as the link itself, and refuses a symlinked directory.
#ifndef LLORCH_AGENT_MODELS_STORE_MODEL_STORE_H_
#define LLORCH_AGENT_MODELS_STORE_MODEL_STORE_H_

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/models/catalog.h"
#include "common/dir_fd.h"

namespace llorch {

enum class LocalState {
  kNotDownloaded,  // nothing of the model is on disk
  kPartial,        // an interrupted download or conversion left state behind
  kUnverified,     // the file is there, but no manifest proves its bytes
  kDownloaded,     // the file is there and its manifest matches its size
  kRefused,        // a symlink (or another kind of entry) is where a directory or file should be
};

struct LocalModel {
  LocalState state = LocalState::kNotDownloaded;
  std::filesystem::path path;  // where the model file is or will be
  uint64_t bytes = 0;          // size of the model file, or of the partial data
  // kRefused: what is in the way and where a link points (FailedPrecondition, reason
  // SYMLINK_REFUSED, with a hint); OK otherwise.
  absl::Status refused;
};

// Manifest::verified_by: which of the Hub's digests a downloaded file's bytes were checked against.
inline constexpr char kVerifiedBySha256[] = "sha256";     // its SHA-256 (an LFS file)
inline constexpr char kVerifiedByGitSha1[] = "git-sha1";  // its git blob id (outside LFS)

// The record written once a model file's bytes were checked: against the Hub's digest for a
// download, or made here by conversion from sources that were.
struct Manifest {
  std::string repo;
  std::string revision_commit;
  std::string file;
  uint64_t size = 0;
  std::string sha256;  // lower-case hex, computed here: what later verifies compare
  std::string upstream_etag;
  int64_t downloaded_at = 0;  // unix seconds
  // kVerifiedBySha256 or kVerifiedByGitSha1; "" for a converted file (no upstream digest).
  std::string verified_by;
};

// One file in the models directory.
struct StoreFile {
  std::string path;  // relative to the models directory
  uint64_t bytes = 0;
  std::string model_id;  // owner; "" when no catalog entry owns it
  bool partial = false;  // download or conversion state rather than a finished file
  std::string symlink_target;  // set when the entry is a symlink (never followed; bytes 0)
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
  // The metadata directory's name, in each model directory.
  static constexpr char kMetadataDir[] = ".llorch";

  explicit ModelStore(std::filesystem::path models_dir);

  const std::filesystem::path& models_dir() const { return models_dir_; }

  // Paths for messages and for the children (hf CLI, converter) that take paths; the store's
  // own work goes through OpenDir.
  std::filesystem::path ModelPath(const CatalogModel& model) const;
  std::filesystem::path ManifestPath(const CatalogModel& model) const;
  // The ModelLock's file; never listed as one of the model's files.
  std::filesystem::path LockPath(const CatalogModel& model) const;

  // The directory `relative` below the model's directory ("" for the model directory itself,
  // kMetadataDir, "source", ...), opened without following a symlink anywhere below models_dir.
  // With `create`, missing directories are made, models_dir included, and only after every
  // directory above them proved real: a refused call has created nothing. FailedPrecondition
  // (reason SYMLINK_REFUSED, naming the link and its target) when a symlink is in the way;
  // NotFound when missing without `create`.
  absl::StatusOr<DirFd> OpenDir(const CatalogModel& model, absl::string_view relative,
                                bool create) const;
  // Opens the model file for reading: a regular file (never through a symlink), else the error
  // that says what is there.
  absl::StatusOr<UniqueFd> OpenModelFile(const CatalogModel& model) const;

  // Reads the model's state from disk. Never fails: unreadable state counts as absent, and what
  // nothing here follows (a symlink) makes the model kRefused, with the reason.
  LocalModel Inspect(const CatalogModel& model) const;

  // The model file under one of its former names (CatalogModel::former_files), when one is there
  // as a regular file and nothing is under its current name. Counts as unverified.
  std::optional<std::filesystem::path> FormerFile(const CatalogModel& model) const;
  // Gives the FormerFile() its current name (rename, fsync of the directory) and returns the
  // former name; "" when there is none. The caller holds the ModelLock.
  absl::StatusOr<std::string> RenameFormerFile(const CatalogModel& model) const;

  // FailedPrecondition (reason SYMLINK_REFUSED), with a hint, when the model's directory or
  // metadata directory is a symlink: nothing reads, verifies or deletes through one.
  absl::Status CheckDirsAreReal(const CatalogModel& model) const;

  // The manifest, if present and well-formed. One written before manifests said what they were
  // verified by counts only when its sha256 is its upstream etag (or it has none: converted);
  // else nobody's digest vouched for its bytes, and it is ignored (the model is unverified).
  std::optional<Manifest> ReadManifest(const CatalogModel& model) const;
  // Writes the manifest atomically, creating the metadata directory.
  absl::Status WriteManifest(const CatalogModel& model, const Manifest& manifest) const;
  // Removes the manifest (a missing one is fine): the file stays, no longer vouched for, so the
  // model counts as unverified. Done before a file is replaced, so that a crash in between never
  // leaves a manifest vouching for other bytes, and when a verify finds other bytes.
  absl::Status RemoveManifest(const CatalogModel& model) const;

  // Walks the models directory (a missing one is empty) and sorts every file to its owner. A
  // symlink is listed as itself, with its target, and not descended into.
  StoreScan Scan(const Catalog& catalog) const;

  // The files `model` owns, as Scan would list them.
  std::vector<StoreFile> OwnedFiles(const Catalog& catalog, const CatalogModel& model) const;

  // Removes the files `model` owns and the directories that become empty; returns what went.
  // A symlinked file is removed as the link; refuses (CheckDirsAreReal) when the model's
  // directory or metadata directory is a symlink.
  absl::StatusOr<std::vector<StoreFile>> Delete(const Catalog& catalog,
                                                const CatalogModel& model) const;

  // Space on the filesystem holding the models directory (or its nearest existing parent).
  absl::StatusOr<DiskSpace> FreeSpace() const;

 private:
  std::filesystem::path models_dir_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_STORE_MODEL_STORE_H_
