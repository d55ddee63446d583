#include "agent/models/catalog.h"

#include <toml++/toml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/status.h"
#include "common/strings.h"

namespace llorch {
namespace {

const std::vector<std::string> kKeys = {"id",
                                        "name",
                                        "repo",
                                        "file",
                                        "dir",
                                        "size_bytes",
                                        "params",
                                        "description",
                                        "revision",
                                        "verified",
                                        "note",
                                        "requires_conversion",
                                        "converter",
                                        "converter_script",
                                        "converter_args",
                                        "source_patterns"};
const std::vector<std::string> kConversionKeys = {"converter", "converter_script", "converter_args",
                                                  "source_patterns"};

// Reads one entry's keys, checking types; the caller checks values.
class EntryReader {
 public:
  EntryReader(const toml::table& table, absl::string_view source) : table_(table), source_(source) {
    line_ = static_cast<int>(table.source().begin.line);
    if (const auto* id = table.get_as<std::string>("id"))
      label_ = absl::StrCat(" '", id->get(), "'");
  }

  int line() const { return line_; }

  // "catalog.toml:12: model 'qwen': <what>"
  absl::Status Error(absl::string_view what, const toml::node* at = nullptr) const {
    const int line = at ? static_cast<int>(at->source().begin.line) : line_;
    return absl::InvalidArgumentError(
        absl::StrCat(source_, ":", line, ": model", label_, ": ", what));
  }

  absl::Status CheckKnownKeys() const {
    for (auto&& [key, node] : table_) {
      const std::string name(key.str());
      if (std::find(kKeys.begin(), kKeys.end(), name) == kKeys.end()) {
        return Error(absl::StrCat("unknown key '", name, "'", DidYouMean(name, kKeys)), &node);
      }
    }
    return absl::OkStatus();
  }

  absl::Status String(const char* key, bool required, std::string* out) const {
    const toml::node* node = table_.get(key);
    if (!node)
      return required ? Error(absl::StrCat("missing required key '", key, "'")) : absl::OkStatus();
    if (!node->is_string()) return Error(absl::StrCat(key, " must be a string"), node);
    *out = node->as_string()->get();
    return absl::OkStatus();
  }

  absl::Status Bool(const char* key, bool* out) const {
    const toml::node* node = table_.get(key);
    if (!node) return absl::OkStatus();
    if (!node->is_boolean()) return Error(absl::StrCat(key, " must be true or false"), node);
    *out = node->as_boolean()->get();
    return absl::OkStatus();
  }

  absl::Status Size(const char* key, uint64_t* out) const {
    const toml::node* node = table_.get(key);
    if (!node) return Error(absl::StrCat("missing required key '", key, "'"));
    if (!node->is_integer()) return Error(absl::StrCat(key, " must be an integer"), node);
    const int64_t value = node->as_integer()->get();
    if (value <= 0) return Error(absl::StrCat(key, " must be greater than 0"), node);
    *out = static_cast<uint64_t>(value);
    return absl::OkStatus();
  }

  absl::Status StringList(const char* key, std::vector<std::string>* out) const {
    const toml::node* node = table_.get(key);
    if (!node) return absl::OkStatus();
    const toml::array* array = node->as_array();
    if (!array) return Error(absl::StrCat(key, " must be an array of strings"), node);
    for (const toml::node& element : *array) {
      if (!element.is_string())
        return Error(absl::StrCat(key, " must be an array of strings"), node);
      out->push_back(element.as_string()->get());
    }
    return absl::OkStatus();
  }

  const toml::node* Node(const char* key) const { return table_.get(key); }

 private:
  const toml::table& table_;
  absl::string_view source_;
  std::string label_;
  int line_ = 0;
};

bool IsIdChar(char c) { return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-'; }

bool ValidId(absl::string_view id) {
  return !id.empty() && id.size() <= 64 && id[0] != '-' &&
         std::all_of(id.begin(), id.end(), IsIdChar);
}

// A repo part: [A-Za-z0-9][A-Za-z0-9._-]*, not containing "..".
bool ValidRepoPart(absl::string_view part) {
  if (part.empty() || !absl::ascii_isalnum(part[0]) || absl::StrContains(part, "..")) return false;
  return std::all_of(part.begin(), part.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
  });
}

bool ValidRepo(absl::string_view repo) {
  const size_t slash = repo.find('/');
  if (slash == absl::string_view::npos || repo.find('/', slash + 1) != absl::string_view::npos) {
    return false;
  }
  return ValidRepoPart(repo.substr(0, slash)) && ValidRepoPart(repo.substr(slash + 1));
}

// A single path component that stays inside its parent directory.
bool ValidPathComponent(absl::string_view name) {
  if (name.empty() || name[0] == '.' || name[0] == '-') return false;
  return std::none_of(name.begin(), name.end(), [](char c) {
    return c == '/' || c == '\\' || c == '\0' || static_cast<unsigned char>(c) < 0x20;
  });
}

// A relative path of plain components, e.g. reference/llama.cpp/convert_hf_to_gguf.py.
bool ValidRelativePath(absl::string_view path) {
  if (path.empty() || path[0] == '/' || path[0] == '-') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == ".." || part.find('\0') != absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

bool ValidRevision(absl::string_view revision) {
  if (revision.empty() || revision[0] == '-' || absl::StrContains(revision, "..")) return false;
  return std::all_of(revision.begin(), revision.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || c == '/';
  });
}

bool ValidPattern(absl::string_view pattern) {
  return !pattern.empty() && pattern[0] != '-' && !absl::StrContains(pattern, "/") &&
         !absl::StrContains(pattern, "..");
}

absl::StatusOr<CatalogModel> ReadModel(const EntryReader& entry) {
  CatalogModel model;
  model.line = entry.line();
  if (absl::Status s = entry.CheckKnownKeys(); !s.ok()) return s;
  for (auto [key, out] : {std::pair{"id", &model.id},
                          {"name", &model.name},
                          {"repo", &model.repo},
                          {"file", &model.file},
                          {"dir", &model.dir}}) {
    if (absl::Status s = entry.String(key, /*required=*/true, out); !s.ok()) return s;
  }
  for (auto [key, out] : {std::pair{"params", &model.params},
                          {"description", &model.description},
                          {"note", &model.note},
                          {"revision", &model.revision}}) {
    if (absl::Status s = entry.String(key, /*required=*/false, out); !s.ok()) return s;
  }
  if (absl::Status s = entry.Size("size_bytes", &model.size_bytes); !s.ok()) return s;
  if (absl::Status s = entry.Bool("verified", &model.verified); !s.ok()) return s;

  if (!ValidId(model.id)) {
    return entry.Error(
        absl::StrCat("id must match [a-z0-9][a-z0-9-]* (at most 64 characters), got '", model.id,
                     "'"),
        entry.Node("id"));
  }
  if (!ValidRepo(model.repo)) {
    return entry.Error(absl::StrCat("repo must be 'owner/name', got '", model.repo, "'"),
                       entry.Node("repo"));
  }
  if (!ValidPathComponent(model.file)) {
    return entry.Error(absl::StrCat("file must be a plain file name, got '", model.file, "'"),
                       entry.Node("file"));
  }
  if (!absl::EndsWith(model.file, ".gguf")) {
    return entry.Error(absl::StrCat("file must end in .gguf, got '", model.file, "'"),
                       entry.Node("file"));
  }
  if (!ValidPathComponent(model.dir)) {
    return entry.Error(absl::StrCat("dir must be a plain directory name, got '", model.dir, "'"),
                       entry.Node("dir"));
  }
  if (model.revision.empty()) model.revision = "main";
  if (!ValidRevision(model.revision)) {
    return entry.Error(
        absl::StrCat("revision must be a branch, tag or commit, got '", model.revision, "'"),
        entry.Node("revision"));
  }

  bool requires_conversion = false;
  if (absl::Status s = entry.Bool("requires_conversion", &requires_conversion); !s.ok()) return s;
  if (!requires_conversion) {
    for (const std::string& key : kConversionKeys) {
      if (const toml::node* node = entry.Node(key.c_str())) {
        return entry.Error(absl::StrCat(key, " is only allowed with requires_conversion = true"),
                           node);
      }
    }
    return model;
  }
  ModelConversion conversion;
  if (absl::Status s = entry.String("converter", true, &conversion.converter); !s.ok()) return s;
  if (absl::Status s = entry.String("converter_script", true, &conversion.script); !s.ok())
    return s;
  if (!entry.Node("converter_args")) return entry.Error("missing required key 'converter_args'");
  if (absl::Status s = entry.StringList("converter_args", &conversion.args); !s.ok()) return s;
  if (absl::Status s = entry.StringList("source_patterns", &conversion.source_patterns); !s.ok()) {
    return s;
  }
  if (!ValidRelativePath(conversion.script)) {
    return entry.Error(absl::StrCat("converter_script must be a relative path inside the "
                                    "repository, got '",
                                    conversion.script, "'"),
                       entry.Node("converter_script"));
  }
  for (const std::string& pattern : conversion.source_patterns) {
    if (!ValidPattern(pattern)) {
      return entry.Error(
          absl::StrCat("source_patterns entries must be plain file globs, got '", pattern, "'"),
          entry.Node("source_patterns"));
    }
  }
  for (size_t i = 0; i + 1 < conversion.args.size(); ++i) {
    if (conversion.args[i] == "--outtype") conversion.output_type = conversion.args[i + 1];
  }
  model.conversion = std::move(conversion);
  return model;
}

}  // namespace

std::string CatalogModel::HubUrl() const { return "https://huggingface.co/" + repo; }

absl::StatusOr<Catalog> Catalog::Parse(absl::string_view toml_text, absl::string_view source_name) {
  toml::table root;
  try {
    root = toml::parse(std::string_view(toml_text.data(), toml_text.size()),
                       std::string_view(source_name.data(), source_name.size()));
  } catch (const toml::parse_error& error) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ":", error.source().begin.line, ":", error.source().begin.column,
                     ": TOML syntax error: ", std::string(error.description())));
  }
  for (auto&& [key, node] : root) {
    if (key.str() != "models") {
      return absl::InvalidArgumentError(
          absl::StrCat(source_name, ":", key.source().begin.line, ": unknown top-level key '",
                       std::string(key.str()), "' (the catalog holds only [[models]] entries)"));
    }
  }
  const toml::array* entries = root.get_as<toml::array>("models");
  if (!entries || entries->empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": the catalog has no [[models]] entries"));
  }
  Catalog catalog;
  catalog.source_name_ = std::string(source_name);
  std::set<std::string> ids;
  std::set<std::pair<std::string, std::string>> locations;
  for (const toml::node& node : *entries) {
    const toml::table* table = node.as_table();
    if (!table) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ":", node.source().begin.line,
                                                     ": models must be [[models]] tables"));
    }
    EntryReader entry(*table, source_name);
    absl::StatusOr<CatalogModel> model = ReadModel(entry);
    if (!model.ok()) return model.status();
    if (!ids.insert(model->id).second) {
      return entry.Error("duplicate id; every model id must be unique", entry.Node("id"));
    }
    if (!locations.insert({model->dir, model->file}).second) {
      return entry.Error(absl::StrCat("another model already uses ", model->dir, "/", model->file),
                         entry.Node("file"));
    }
    catalog.models_.push_back(std::move(*model));
  }
  return catalog;
}

absl::StatusOr<Catalog> Catalog::LoadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return WithHint(absl::NotFoundError(absl::StrCat("cannot read catalog file ", path)),
                    "check the path given with --catalog or the `catalog` configuration key");
  }
  std::stringstream text;
  text << in.rdbuf();
  return Parse(text.str(), path);
}

const CatalogModel* Catalog::Find(absl::string_view id) const {
  for (const CatalogModel& model : models_) {
    if (model.id == id) return &model;
  }
  return nullptr;
}

absl::StatusOr<const CatalogModel*> Catalog::Lookup(absl::string_view id) const {
  if (const CatalogModel* model = Find(id)) return model;
  std::vector<std::string> ids;
  for (const CatalogModel& model : models_) ids.push_back(model.id);
  return WithReason(
      WithHint(absl::NotFoundError(absl::StrCat("unknown model '", id, "'", DidYouMean(id, ids))),
               absl::StrCat("known models: ", absl::StrJoin(ids, ", "),
                            "; `llorch-pool models catalog` shows them all")),
      "MODEL_NOT_FOUND");
}

}  // namespace llorch
