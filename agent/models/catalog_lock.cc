#include "agent/models/catalog_lock.h"

#include <algorithm>
#include <filesystem>
#include <set>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "agent/models/toml_text.h"
#include "common/atomic_file.h"
#include "common/dir_fd.h"
#include "common/file_read.h"
#include "common/status.h"
#include "common/strings.h"

namespace llorch {
namespace {

constexpr int64_t kVersion = 1;

constexpr char kHeader[] =
    "# The catalog's lock file, written by `llorch-pool models lock`: for each pinned model, the\n"
    "# Hub commit its revision resolved to and the SHA-256 and size of its file there. Downloads\n"
    "# fetch exactly these bytes (from the pinned commit) and verification checks against them,\n"
    "# also offline. `llorch-pool models lock --update ID` moves a pin to what the Hub has now,\n"
    "# `llorch-pool models lock --unpin ID` removes it. Keep this file next to the catalog.\n";

bool IsLowerHex(absl::string_view text, size_t length) {
  return text.size() == length && std::all_of(text.begin(), text.end(), [](char c) {
           return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f');
         });
}

// A TOML basic string.
std::string TomlString(absl::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// Errors that name the file, the line and, inside a model's table, the model.
class Errors {
 public:
  explicit Errors(absl::string_view source) : source_(source) {}
  absl::Status At(int line, absl::string_view what, absl::string_view id = "") const {
    return absl::InvalidArgumentError(absl::StrCat(
        source_, ":", line, ": ", id.empty() ? "" : absl::StrCat("model ", Quote(id), ": "), what));
  }

 private:
  absl::string_view source_;
};

int KeyLine(const toml::key& key, const toml::node& node) {
  return LineOf(key.source()) > 0 ? LineOf(key.source()) : LineOf(node.source());
}

// Rejects keys of `table` not in `known`: "unknown key 'x' (did you mean 'y'?)".
absl::Status CheckKnownKeys(const toml::table& table, const std::vector<std::string>& known,
                            const Errors& errors, absl::string_view id, absl::string_view what) {
  for (auto&& [key, node] : table) {
    const std::string name(key.str());
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    return errors.At(
        KeyLine(key, node),
        absl::StrCat("unknown key ", Quote(name), " in ", what,
                     DidYouMean(name, known).empty()
                         ? absl::StrCat(" (known keys: ", absl::StrJoin(known, ", "), ")")
                         : DidYouMean(name, known)),
        id);
  }
  return absl::OkStatus();
}

// The string at `key` of `table`, required, without control characters.
absl::StatusOr<std::string> RequiredString(const toml::table& table, const char* key, int line,
                                           const Errors& errors, absl::string_view id) {
  const toml::node* node = table.get(key);
  if (node == nullptr) return errors.At(line, absl::StrCat("missing required key '", key, "'"), id);
  const int at = LineOf(node->source()) > 0 ? LineOf(node->source()) : line;
  if (!node->is_string()) {
    return errors.At(at, absl::StrCat(key, " must be a string, got ", TypeName(*node)), id);
  }
  std::string value = node->as_string()->get();
  if (value.empty() || HasControlCharacter(value)) {
    return errors.At(
        at,
        absl::StrCat(key, " must be a non-empty string without control characters, got ",
                     Quote(value)),
        id);
  }
  return value;
}

absl::StatusOr<PinnedFile> ReadFile(const toml::node& node, int line, const Errors& errors,
                                    absl::string_view id) {
  const int at = LineOf(node.source()) > 0 ? LineOf(node.source()) : line;
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return errors.At(
        at,
        absl::StrCat("files must hold tables { name = ..., sha256 = ..., size = ... }, got ",
                     TypeName(node)),
        id);
  }
  if (absl::Status known = CheckKnownKeys(*table, {"name", "sha256", "size"}, errors, id, "a file");
      !known.ok()) {
    return known;
  }
  PinnedFile file;
  absl::StatusOr<std::string> name = RequiredString(*table, "name", at, errors, id);
  if (!name.ok()) return name.status();
  file.name = *std::move(name);
  if (file.name[0] == '/' || absl::StrContains(file.name, "..")) {
    return errors.At(
        at,
        absl::StrCat("a file's name must be a path inside the repository, got ", Quote(file.name)),
        id);
  }
  absl::StatusOr<std::string> sha256 = RequiredString(*table, "sha256", at, errors, id);
  if (!sha256.ok()) return sha256.status();
  if (!IsLowerHex(*sha256, 64)) {
    return errors.At(at,
                     absl::StrCat("sha256 of ", Quote(file.name),
                                  " must be 64 lower-case hex digits, got ", Quote(*sha256)),
                     id);
  }
  file.sha256 = *std::move(sha256);
  const toml::node* size = table->get("size");
  if (size == nullptr) return errors.At(at, "missing required key 'size' in a file", id);
  if (!size->is_integer() || size->as_integer()->get() <= 0) {
    return errors.At(
        at,
        absl::StrCat(
            "size of ", Quote(file.name), " must be an integer greater than 0, got ",
            size->is_integer() ? absl::StrCat(size->as_integer()->get()) : TypeName(*size)),
        id);
  }
  file.size = static_cast<uint64_t>(size->as_integer()->get());
  return file;
}

absl::StatusOr<ModelPin> ReadPin(const std::string& id, const toml::node& node,
                                 const Errors& errors) {
  const int line = LineOf(node.source());
  const toml::table* table = node.as_table();
  if (table == nullptr) {
    return errors.At(line, absl::StrCat("models.", id, " must be a table, got ", TypeName(node)));
  }
  if (absl::Status known =
          CheckKnownKeys(*table, {"repo", "revision", "commit", "files"}, errors, id, "a pin");
      !known.ok()) {
    return known;
  }
  ModelPin pin;
  pin.line = line;
  for (auto [key, out] : {std::pair{"repo", &pin.repo}, std::pair{"revision", &pin.revision},
                          std::pair{"commit", &pin.commit}}) {
    absl::StatusOr<std::string> value = RequiredString(*table, key, line, errors, id);
    if (!value.ok()) return value.status();
    *out = *std::move(value);
  }
  if (!IsLowerHex(pin.commit, 40)) {
    return errors.At(
        LineOf(table->get("commit")->source()),
        absl::StrCat("commit must be 40 lower-case hex digits, got ", Quote(pin.commit)), id);
  }
  const toml::node* files = table->get("files");
  if (files == nullptr) return errors.At(line, "missing required key 'files'", id);
  const toml::array* array = files->as_array();
  if (array == nullptr) {
    return errors.At(LineOf(files->source()),
                     absl::StrCat("files must be an array, got ", TypeName(*files)), id);
  }
  std::set<std::string> names;
  for (const toml::node& element : *array) {
    absl::StatusOr<PinnedFile> file = ReadFile(element, LineOf(files->source()), errors, id);
    if (!file.ok()) return file.status();
    if (!names.insert(file->name).second) {
      return errors.At(LineOf(element.source()),
                       absl::StrCat("file ", Quote(file->name), " is pinned twice"), id);
    }
    pin.files.push_back(*std::move(file));
  }
  std::sort(pin.files.begin(), pin.files.end(),
            [](const PinnedFile& a, const PinnedFile& b) { return a.name < b.name; });
  return pin;
}

}  // namespace

const PinnedFile* ModelPin::File(absl::string_view name) const {
  for (const PinnedFile& file : files) {
    if (file.name == name) return &file;
  }
  return nullptr;
}

std::string PinMismatch(const ModelPin& pin, const CatalogModel& model) {
  if (pin.repo != model.repo) {
    return absl::StrCat("the lock pins repo ", pin.repo, ", the catalog says ", model.repo);
  }
  if (pin.revision != model.revision) {
    return absl::StrCat("the lock pins revision ", pin.revision, ", the catalog says ",
                        model.revision);
  }
  if (model.conversion) {
    if (!pin.files.empty()) return "the lock pins files of a model the catalog converts";
    return "";
  }
  if (pin.files.size() != 1 || pin.File(model.file) == nullptr) {
    std::vector<std::string> names;
    for (const PinnedFile& file : pin.files) names.push_back(file.name);
    return absl::StrCat("the lock pins ", names.empty() ? "no file" : absl::StrJoin(names, ", "),
                        ", the catalog's file is ", model.file);
  }
  return "";
}

std::string LockPathFor(absl::string_view catalog_path) {
  absl::string_view stem = catalog_path;
  absl::ConsumeSuffix(&stem, ".toml");
  return absl::StrCat(stem, ".lock.toml");
}

std::string ConfiguredLockPath(const std::string& catalog_path, const std::string& lock_path) {
  if (!lock_path.empty()) return lock_path;
  return catalog_path.empty() ? "" : LockPathFor(catalog_path);
}

absl::StatusOr<CatalogLock> CatalogLock::Parse(absl::string_view toml_text,
                                               absl::string_view source_name,
                                               const Catalog& catalog) {
  absl::StatusOr<toml::table> parsed = ParseToml(toml_text, source_name);
  if (!parsed.ok()) return parsed.status();
  const toml::table& root = *parsed;
  const Errors errors(source_name);
  if (absl::Status known = CheckKnownKeys(root, {"version", "models"}, errors, "", "the lock file");
      !known.ok()) {
    return known;
  }
  const toml::node* version = root.get("version");
  if (version == nullptr) {
    return errors.At(1, absl::StrCat("missing 'version = ", kVersion,
                                     "' (is this a lock file written by llorch-pool?)"));
  }
  if (!version->is_integer() || version->as_integer()->get() != kVersion) {
    return errors.At(LineOf(version->source()),
                     absl::StrCat("version must be ", kVersion,
                                  " (a newer llorch-pool may have written this file)"));
  }
  CatalogLock lock;
  const toml::node* models = root.get("models");
  if (models == nullptr) return lock;
  const toml::table* table = models->as_table();
  if (table == nullptr) {
    return errors.At(
        LineOf(models->source()),
        absl::StrCat("models must be a table of [models.ID] tables, got ", TypeName(*models)));
  }
  std::vector<std::string> ids;
  for (const CatalogModel& model : catalog.models()) ids.push_back(model.id);
  for (auto&& [key, node] : *table) {
    const std::string id(key.str());
    if (catalog.Find(id) == nullptr) {
      return errors.At(
          KeyLine(key, node),
          absl::StrCat("model ", Quote(id), " is not in the catalog (", catalog.source_name(), ")",
                       DidYouMean(id, ids), "; remove its [models.", id, "] table"));
    }
    absl::StatusOr<ModelPin> pin = ReadPin(id, node, errors);
    if (!pin.ok()) return pin.status();
    lock.pins_[id] = *std::move(pin);
  }
  return lock;
}

absl::StatusOr<CatalogLock> CatalogLock::LoadFile(const std::string& path, const Catalog& catalog) {
  absl::StatusOr<std::string> text = ReadRegularFile(path, {.what = "catalog lock file"});
  if (absl::IsNotFound(text.status())) return CatalogLock();
  if (!text.ok()) return text.status();
  return Parse(*text, path, catalog);
}

std::string CatalogLock::Serialize() const {
  std::string out = absl::StrCat(kHeader, "\nversion = ", kVersion, "\n");
  for (const auto& [id, pin] : pins_) {
    absl::StrAppend(&out, "\n[models.", id, "]\nrepo = ", TomlString(pin.repo),
                    "\nrevision = ", TomlString(pin.revision),
                    "\ncommit = ", TomlString(pin.commit), "\nfiles = [");
    for (const PinnedFile& file : pin.files) {
      absl::StrAppend(&out, "\n  { name = ", TomlString(file.name),
                      ", sha256 = ", TomlString(file.sha256), ", size = ", file.size, " },");
    }
    absl::StrAppend(&out, pin.files.empty() ? "]\n" : "\n]\n");
  }
  return out;
}

const ModelPin* CatalogLock::Find(absl::string_view id) const {
  auto it = pins_.find(std::string(id));
  return it == pins_.end() ? nullptr : &it->second;
}

void CatalogLock::Set(const std::string& id, ModelPin pin) {
  std::sort(pin.files.begin(), pin.files.end(),
            [](const PinnedFile& a, const PinnedFile& b) { return a.name < b.name; });
  pins_[id] = std::move(pin);
}

absl::StatusOr<std::shared_ptr<LockFile>> LockFile::Load(std::string path, const Catalog& catalog) {
  if (path.empty()) return std::make_shared<LockFile>("", CatalogLock());
  absl::StatusOr<CatalogLock> lock = CatalogLock::LoadFile(path, catalog);
  if (!lock.ok()) return lock.status();
  return std::make_shared<LockFile>(std::move(path), *std::move(lock));
}

CatalogLock LockFile::Get() const {
  std::lock_guard lock(mu_);
  return lock_;
}

std::optional<ModelPin> LockFile::Find(absl::string_view id) const {
  std::lock_guard lock(mu_);
  const ModelPin* pin = lock_.Find(id);
  return pin ? std::optional<ModelPin>(*pin) : std::nullopt;
}

absl::Status LockFile::Store(const CatalogLock& lock) {
  const std::filesystem::path path(path_);
  absl::StatusOr<DirFd> dir = DirFd::OpenRoot(
      path.has_parent_path() ? path.parent_path() : std::filesystem::path("."), false);
  if (!dir.ok()) return WithPrefix(dir.status(), absl::StrCat("cannot write ", path_));
  if (absl::Status written = WriteFileAtomically(*dir, path.filename().string(), lock.Serialize());
      !written.ok()) {
    return WithPrefix(written, absl::StrCat("cannot write ", path_));
  }
  std::lock_guard guard(mu_);
  lock_ = lock;
  return absl::OkStatus();
}

}  // namespace llorch
