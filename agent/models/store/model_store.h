// The on-disk model store: where a catalog model's files live and what state they are in.
//
// Layout (kept from the bash scripts so existing hosts keep their files):
//   <models_dir>/<dir>/<file>                         the model file
//   <models_dir>/<dir>/<former file>                  the same under a name older hosts used
//   <models_dir>/<dir>/.llorch/<file>.manifest.json   our manifest: proof the bytes were verified
//   <models_dir>/<dir>/.llorch/<file>.switch.json     while a file is replaced: which manifest
//                                                     holds for which file (see Install)
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

#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/models/catalog.h"
#include "agent/models/store/sha256_file.h"
#include "agent/ops/operation.h"
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
  uint64_t bytes = 0;          // size of the model file, or what a partial download fetched
  // kRefused: what is in the way and where a link points (FailedPrecondition, reason
  // SYMLINK_REFUSED, with a hint); OK otherwise.
  absl::Status refused;
};

// Manifest::verified_by: which of the Hub's digests a downloaded file's bytes were checked against.
inline constexpr char kVerifiedBySha256[] = "sha256";     // its SHA-256 (an LFS file)
inline constexpr char kVerifiedByGitSha1[] = "git-sha1";  // its git blob id (outside LFS)

// Which of the Hub's digests vouches for bytes that hash to `computed` (with their git blob id
// when the Hub's digest is one), the Hub's etag for them being `hub_etag` (HubDigestOfEtag):
// kVerifiedBySha256 or kVerifiedByGitSha1. DataLoss, reason HASH_MISMATCH, naming both digests,
// when they differ; FailedPrecondition, reason HUB_NO_DIGEST, when the etag is no digest: nothing
// vouches for the bytes. `file` names them in the message.
absl::StatusOr<std::string> CheckAgainstHub(absl::string_view file, const FileHashes& computed,
                                            absl::string_view hub_etag);

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
  std::string model_id;        // owner; "" when no catalog entry owns it
  bool partial = false;        // download or conversion state rather than a finished file
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

// A file written somewhere in the store to become a model's file (ModelStore::Install).
struct StagedFile {
  // The store's directory holding it (the model's metadata directory, for a download's partial
  // or a conversion's output), reached without following a symlink. nullptr: it is in place
  // already, the model file itself (what the hf CLI left there, or a file found without a
  // manifest).
  const DirFd* dir = nullptr;
  std::string name;  // in `dir`
  // Who made it, for messages: "the download of org/repo/file", "converter /x/convert.py".
  std::string made_by;
  // Its digests, when they were computed as its bytes were written (a download hashes each piece
  // before it writes it); nullopt: Install hashes the file.
  std::optional<FileHashes> hashes;

  // The model file itself, in place already.
  static StagedFile InPlace(std::string made_by) {
    return {nullptr, "", std::move(made_by), std::nullopt};
  }
};

// Where a staged file's bytes come from, and so what must vouch for them.
struct InstallSource {
  std::string revision_commit;
  // The Hub's etag for the file: its digest (HubDigestOfEtag) is what the bytes must hash to.
  std::string upstream_etag;
  // Made here by conversion from verified sources: no upstream digest (upstream_etag unused);
  // the SHA-256 computed here is the manifest's.
  bool converted = false;
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
  // The switch record's name in the metadata directory (see Install).
  static std::string SwitchName(const CatalogModel& model);
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

  // The manifest of the file in place, if present and well-formed: <file>.manifest.json, else
  // (an Install or WithdrawManifest was interrupted, or the hf CLI ran) the one the switch record
  // binds to the very file in place. One written before manifests said what they were
  // verified by counts only when its sha256 is its upstream etag (or it has none: converted);
  // else nobody's digest vouched for its bytes, and it is ignored (the model is unverified).
  std::optional<Manifest> ReadManifest(const CatalogModel& model) const;
  // Writes the manifest atomically, creating the metadata directory.
  absl::Status WriteManifest(const CatalogModel& model, const Manifest& manifest) const;
  // Removes the manifest and any switch record (a missing one is fine): the file stays, no longer
  // vouched for, so the model counts as unverified. Done when a verify finds other bytes.
  absl::Status RemoveManifest(const CatalogModel& model) const;

  // The commit step of the store: makes `staged` the model's file, verified, with its manifest.
  //   1. Its bytes are checked: their digest (staged.hashes, else computed here, as phase "hash"
  //      of `op`) against the Hub's (source.upstream_etag), then the GGUF header. Errors:
  //      FailedPrecondition, reason HUB_NO_DIGEST, when the etag is no digest (before anything is
  //      read); DataLoss, reason HASH_MISMATCH, naming both digests; DataLoss naming
  //      staged.made_by for a file that is not GGUF; CANCELLED when `op` is cancelled while
  //      hashing. Refused bytes change nothing in place; the staged file is the caller's to
  //      discard.
  //   2. The file is committed: a switch record (<file>.switch.json) is written that binds the
  //      old manifest to the old file and the new one to the staged file (each by inode, size and
  //      modification time), the old manifest is withdrawn, the staged file renamed into place
  //      (fsync of the file and both directories), the new manifest written atomically, the
  //      switch record removed. ReadManifest consults the switch record only when there is no
  //      manifest, and then only for the file that is in place: however the process dies
  //      between two steps, the model is the old file or the new one, each verified by its own
  //      manifest, never a file with another's. A file already in place (staged.dir null) only
  //      gets its manifest.
  // Every directory is reached without following a symlink (made when missing); a symlink, or
  // anything but a regular file, at the model file or as the staged file is refused (reason
  // SYMLINK_REFUSED for a link) before anything changes. Logs what it checked and installed into
  // `op`. The caller holds the ModelLock. Returns the manifest written.
  absl::StatusOr<Manifest> Install(const CatalogModel& model, const StagedFile& staged,
                                   const InstallSource& source, Operation& op) const;

  // Before a program replaces the model file by itself (the hf CLI), which Install then verifies
  // in place: the manifest is withdrawn, so it never vouches for what the program leaves, yet
  // the file it vouched for stays verified for as long as it is the one in place (the switch
  // record binds it by inode, size and modification time).
  absl::Status WithdrawManifest(const CatalogModel& model) const;

  // For tests of what a crash leaves: called after each step of Install that changes the disk,
  // with its name ("switch", "withdraw", "rename", "manifest", "cleanup"), so that a test can
  // kill the process there.
  void SetInstallStepHookForTesting(std::function<void(absl::string_view step)> hook) {
    install_step_hook_ = std::move(hook);
  }

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
  // What tells one file from another without reading it.
  struct FileIdentity {
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
  };
  static FileIdentity IdentityOf(const struct stat& info);

  // Withdraws the manifest as Install's step 2 does: a switch record binding the manifest of the
  // file in place (if one vouches for it) to that file, and `incoming` (if given) to its file;
  // then the manifest goes (fsync of the directory).
  absl::Status Withdraw(const CatalogModel& model, const DirFd& model_dir,
                        const DirFd& metadata_dir,
                        const std::optional<std::pair<Manifest, FileIdentity>>& incoming) const;
  void Step(absl::string_view name) const {
    if (install_step_hook_) install_step_hook_(name);
  }

  std::filesystem::path models_dir_;
  std::function<void(absl::string_view)> install_step_hook_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_STORE_MODEL_STORE_H_
