// The catalog's lock file: per pinned model, the Hub commit its revision resolved to and the
// SHA-256 and size of its file there, so every host of a fleet installs the same bytes and can
// verify them offline. `llorch-pool models lock` writes it (ModelService.LockModels).
//
// Where: `catalog_lock` in the configuration; when that is empty, beside the catalog file
// (`--catalog fleet.toml` -> `fleet.lock.toml`, `catalog.toml` -> `catalog.lock.toml`); the
// built-in catalog has none unless `catalog_lock` names one. A lock file that does not exist
// pins nothing.
//
// Format (TOML, written with models sorted by id and files by name and no timestamps, so the
// same pins give the same bytes and the file diffs well in git):
//
//   version = 1
//
//   [models.qwen]
//   repo = "Qwen/Qwen2.5-0.5B-Instruct-GGUF"
//   revision = "main"                                   # the catalog revision it was taken of
//   commit = "<40 hex digits>"                          # what that revision resolved to
//   files = [
//     { name = "qwen2.5-0.5b-instruct-q4_k_m.gguf", sha256 = "<64 hex digits>", size = 491400032 },
//   ]
//
// A converted model is pinned by its source commit alone (files = []): a commit fixes every
// source file's bytes, and its GGUF file is made here.
//
// Loading validates as the catalog does (unknown keys, wrong types, malformed commits or
// digests, models the catalog lacks): every error names the file and line. A pin whose repo,
// revision or file no longer match its catalog entry loads, but is stale (PinMismatch): the
// model's downloads fail until `models lock --update ID` pins it again.
#ifndef LLORCH_AGENT_MODELS_CATALOG_LOCK_H_
#define LLORCH_AGENT_MODELS_CATALOG_LOCK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "agent/models/catalog.h"

namespace llorch {

struct PinnedFile {
  std::string name;    // the file's path in the repository
  std::string sha256;  // 64 lower-case hex digits
  uint64_t size = 0;
};

struct ModelPin {
  std::string repo;
  std::string revision;           // the catalog revision the pin was taken of, e.g. "main"
  std::string commit;             // 40 lower-case hex digits
  std::vector<PinnedFile> files;  // sorted by name; empty for a converted model
  int line = 0;                   // of the [models.ID] header; 0 when not read from a file

  // The pinned file named `name`, or nullptr.
  const PinnedFile* File(absl::string_view name) const;
};

// Why `pin` no longer fits `model` ("the lock pins repo A, the catalog says B"), or "" when it
// does.
std::string PinMismatch(const ModelPin& pin, const CatalogModel& model);

// The lock file's path for the catalog file `catalog_path`: a trailing ".toml" becomes
// ".lock.toml", else ".lock.toml" is appended.
std::string LockPathFor(absl::string_view catalog_path);

// The lock file to use: `lock_path` (configuration `catalog_lock`, resolved) when set, else the
// one beside `catalog_path` (resolved `catalog`), else "" (the built-in catalog: none).
std::string ConfiguredLockPath(const std::string& catalog_path, const std::string& lock_path);

class CatalogLock {
 public:
  // Parses and validates `toml_text` against `catalog`; `source_name` prefixes every error.
  static absl::StatusOr<CatalogLock> Parse(absl::string_view toml_text,
                                           absl::string_view source_name, const Catalog& catalog);
  // Reads `path` (a missing file is an empty lock) and parses it.
  static absl::StatusOr<CatalogLock> LoadFile(const std::string& path, const Catalog& catalog);

  // The file's text: same pins, same bytes.
  std::string Serialize() const;

  const std::map<std::string, ModelPin>& pins() const { return pins_; }
  const ModelPin* Find(absl::string_view id) const;
  void Set(const std::string& id, ModelPin pin);
  void Remove(const std::string& id) { pins_.erase(id); }

 private:
  std::map<std::string, ModelPin> pins_;
};

// The lock file as the agent holds it: loaded at start, replaced by `models lock`. Thread-safe.
class LockFile {
 public:
  // `path` "" = no lock file is configured (nothing is pinned; LockModels refuses).
  LockFile(std::string path, CatalogLock lock) : path_(std::move(path)), lock_(std::move(lock)) {}

  // The configured lock file for `catalog` (see the header comment), loaded.
  static absl::StatusOr<std::shared_ptr<LockFile>> Load(std::string path, const Catalog& catalog);

  const std::string& path() const { return path_; }
  CatalogLock Get() const;
  std::optional<ModelPin> Find(absl::string_view id) const;
  // Writes `lock` to path() atomically and makes it the current one.
  absl::Status Store(const CatalogLock& lock);
  // Held by whoever reads, changes and stores the lock (one `models lock` at a time).
  std::mutex& update_mutex() { return update_mu_; }

 private:
  const std::string path_;
  mutable std::mutex mu_;
  CatalogLock lock_;
  std::mutex update_mu_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_CATALOG_LOCK_H_
