#include "agent/models/catalog.h"

#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <string_view>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/models/toml_text.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/file_read.h"
#include "common/status.h"
#include "common/strings.h"

namespace llorch {
namespace {

enum class Kind { kString, kInteger, kBool, kStringArray };

struct KeySpec {
  const char* name;
  Kind kind;
};

// Every key a [[models]] entry may hold, in the order catalog.toml documents them.
constexpr KeySpec kKeys[] = {
    {"id", Kind::kString},
    {"name", Kind::kString},
    {"repo", Kind::kString},
    {"file", Kind::kString},
    {"dir", Kind::kString},
    {"size_bytes", Kind::kInteger},
    {"params", Kind::kString},
    {"description", Kind::kString},
    {"revision", Kind::kString},
    {"verified", Kind::kBool},
    {"note", Kind::kString},
    {"former_files", Kind::kStringArray},
    {"requires_conversion", Kind::kBool},
    {"converter", Kind::kString},
    {"converter_script", Kind::kString},
    {"converter_args", Kind::kStringArray},
    {"source_patterns", Kind::kStringArray},
};
constexpr const char* kRequiredKeys[] = {"id", "name", "repo", "file", "dir", "size_bytes"};
constexpr const char* kConversionKeys[] = {"converter", "converter_script", "converter_args",
                                           "source_patterns"};

// What a conversion fetches when the entry does not say: the files convert_hf_to_gguf.py reads.
const char* const kDefaultSourcePatterns[] = {"config.json",
                                              "generation_config.json",
                                              "tokenizer.json",
                                              "tokenizer_config.json",
                                              "special_tokens_map.json",
                                              "vocab.json",
                                              "merges.txt",
                                              "tokenizer.model",
                                              "*.safetensors",
                                              "model.safetensors.index.json"};

constexpr char kDefaultConverter[] = "llama.cpp";
constexpr size_t kMaxNameLength = 255;  // file and dir names: the usual file system limit
constexpr size_t kMaxRepoPartLength = 96;

std::vector<std::string> KeyNames() {
  std::vector<std::string> names;
  for (const KeySpec& spec : kKeys) names.push_back(spec.name);
  return names;
}

const KeySpec* FindKey(absl::string_view name) {
  for (const KeySpec& spec : kKeys) {
    if (name == spec.name) return &spec;
  }
  return nullptr;
}

const char* KindName(Kind kind) {
  switch (kind) {
    case Kind::kString:
      return "a string";
    case Kind::kInteger:
      return "an integer";
    case Kind::kBool:
      return "a boolean (true or false)";
    case Kind::kStringArray:
      return "an array of strings";
  }
  return "";
}

// [A-Za-z0-9][A-Za-z0-9._-]* without "..": one half of a Hub repo id.
bool ValidRepoPart(absl::string_view part) {
  return !part.empty() && part.size() <= kMaxRepoPartLength && absl::ascii_isalnum(part[0]) &&
         !absl::StrContains(part, "..") && std::all_of(part.begin(), part.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
         });
}

bool ValidRepo(absl::string_view repo) {
  std::vector<absl::string_view> parts = absl::StrSplit(repo, '/');
  return parts.size() == 2 && ValidRepoPart(parts[0]) && ValidRepoPart(parts[1]);
}

// One path component that stays inside its parent: no separators, not "." or "..", not hidden
// (which also keeps it clear of our own ".llorch" and hf's ".cache"), no option-like leading "-".
bool ValidPathComponent(absl::string_view name) {
  return !name.empty() && name.size() <= kMaxNameLength && name[0] != '.' && name[0] != '-' &&
         !HasControlCharacter(name) && name.find_first_of("/\\") == absl::string_view::npos;
}

// A relative path of plain components, e.g. "reference/llama.cpp/convert_hf_to_gguf.py".
bool ValidRelativePath(absl::string_view path) {
  if (path.empty() || path[0] == '/' || path[0] == '-' || HasControlCharacter(path) ||
      absl::StrContains(path, "\\")) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == "..") return false;
  }
  return true;
}

// A branch or tag name (components of [A-Za-z0-9._-] joined by "/", e.g. "main", "v1.0",
// "refs/pr/1") or a 40-hex commit, which has the same shape. Nothing that reads as an option.
bool ValidRevision(absl::string_view revision) {
  if (revision.empty() || revision.size() > 255 || revision[0] == '-' ||
      absl::StrContains(revision, "..")) {
    return false;
  }
  for (absl::string_view part : absl::StrSplit(revision, '/')) {
    if (part.empty() || part[0] == '.' || part.back() == '.') return false;
    for (char c : part) {
      if (!absl::ascii_isalnum(c) && c != '.' && c != '_' && c != '-') return false;
    }
  }
  return true;
}

// A converter family name such as "llama.cpp".
bool ValidConverter(absl::string_view name) {
  return !name.empty() && absl::ascii_isalnum(name[0]) &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || c == '+';
         });
}

// A glob matched against file names at the top of the source repo.
bool ValidPattern(absl::string_view pattern) {
  return !pattern.empty() && pattern[0] != '-' && !absl::StrContains(pattern, "..") &&
         pattern.find_first_of("/\\") == absl::string_view::npos;
}

// One [[models]] table: type-checked access to its keys and errors that name source, line and
// entry.
class Entry {
 public:
  Entry(const toml::table& table, absl::string_view source, int index)
      : table_(table), source_(source), line_(LineOf(table.source())) {
    const toml::node* id = table.get("id");
    label_ = id && id->is_string() ? absl::StrCat("model ", Quote(id->as_string()->get()))
                                   : absl::StrCat("model #", index);
  }

  int line() const { return line_; }

  // "<source>:<line>: model '<id>': <what>"
  absl::Status Error(int line, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ":", line, ": ", label_, ": ", what));
  }
  absl::Status Error(absl::string_view what) const { return Error(line_, what); }

  // The line of `key`, or of the entry when the key is absent.
  int KeyLine(const char* key) const {
    auto it = table_.find(key);
    if (it == table_.end()) return line_;
    const int line = LineOf(it->first.source());
    return line > 0 ? line : LineOf(it->second.source());
  }

  bool Has(const char* key) const { return table_.contains(key); }

  // Rejects unknown keys, wrong types and control characters in strings, in file order.
  absl::Status CheckKeys() const {
    std::vector<std::pair<int, absl::Status>> errors;
    for (auto&& [key, node] : table_) {
      const int line = LineOf(key.source()) > 0 ? LineOf(key.source()) : LineOf(node.source());
      absl::Status status = CheckKey(std::string(key.str()), node, line);
      if (!status.ok()) errors.emplace_back(line, std::move(status));
    }
    if (errors.empty()) return absl::OkStatus();
    return std::min_element(errors.begin(), errors.end(),
                            [](const auto& a, const auto& b) { return a.first < b.first; })
        ->second;
  }

  absl::Status CheckRequiredKeys() const {
    for (const char* key : kRequiredKeys) {
      if (!Has(key)) return Error(absl::StrCat("missing required key '", key, "'"));
    }
    return absl::OkStatus();
  }

  // Accessors for keys CheckKeys() has type-checked.
  std::string String(const char* key, std::string fallback = "") const {
    const toml::node* node = table_.get(key);
    return node ? node->as_string()->get() : fallback;
  }
  int64_t Integer(const char* key) const {
    const toml::node* node = table_.get(key);
    return node ? node->as_integer()->get() : 0;
  }
  bool Bool(const char* key) const {
    const toml::node* node = table_.get(key);
    return node && node->as_boolean()->get();
  }
  std::vector<std::string> Strings(const char* key) const {
    std::vector<std::string> out;
    if (const toml::array* array = table_.get_as<toml::array>(key)) {
      for (const toml::node& element : *array) out.push_back(element.as_string()->get());
    }
    return out;
  }

 private:
  absl::Status CheckKey(const std::string& key, const toml::node& node, int line) const {
    const KeySpec* spec = FindKey(key);
    if (!spec) {
      const std::vector<std::string> known = KeyNames();
      const std::string match = ClosestMatch(key, known);
      return Error(
          line, match.empty()
                    ? absl::StrCat("unknown key ", Quote(key),
                                   " (known keys: ", absl::StrJoin(known, ", "), ")")
                    : absl::StrCat("unknown key ", Quote(key), " (did you mean '", match, "'?)"));
    }
    const bool type_ok = (spec->kind == Kind::kString && node.is_string()) ||
                         (spec->kind == Kind::kInteger && node.is_integer()) ||
                         (spec->kind == Kind::kBool && node.is_boolean()) ||
                         (spec->kind == Kind::kStringArray && node.is_array());
    if (!type_ok) {
      return Error(line,
                   absl::StrCat(key, " must be ", KindName(spec->kind), ", got ", TypeName(node)));
    }
    if (node.is_string() && HasControlCharacter(node.as_string()->get())) {
      return Error(line, absl::StrCat(key, " must not contain control characters, got ",
                                      Quote(node.as_string()->get())));
    }
    if (const toml::array* array = node.as_array()) {
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const int element_line = LineOf(element.source()) > 0 ? LineOf(element.source()) : line;
        if (!element.is_string()) {
          return Error(element_line, absl::StrCat(key, " must be an array of strings, element ",
                                                  i + 1, " is ", TypeName(element)));
        }
        if (HasControlCharacter(element.as_string()->get())) {
          return Error(element_line, absl::StrCat(key, " must not contain control characters, got ",
                                                  Quote(element.as_string()->get())));
        }
      }
    }
    return absl::OkStatus();
  }

  const toml::table& table_;
  absl::string_view source_;
  int line_;
  std::string label_;
};

absl::StatusOr<ModelConversion> ReadConversion(const Entry& entry) {
  for (const char* key : {"converter_script", "converter_args"}) {
    if (!entry.Has(key)) {
      return entry.Error(absl::StrCat("missing required key '", key,
                                      "' (needed with requires_conversion = true)"));
    }
  }
  ModelConversion conversion;
  conversion.converter = entry.String("converter", kDefaultConverter);
  if (!ValidConverter(conversion.converter)) {
    return entry.Error(entry.KeyLine("converter"),
                       absl::StrCat("converter must be a plain name such as 'llama.cpp', got ",
                                    Quote(conversion.converter)));
  }
  conversion.script = entry.String("converter_script");
  if (!ValidRelativePath(conversion.script)) {
    return entry.Error(entry.KeyLine("converter_script"),
                       absl::StrCat("converter_script must be a relative path inside the "
                                    "repository (no '..', not absolute), got ",
                                    Quote(conversion.script)));
  }
  conversion.args = entry.Strings("converter_args");
  const int args_line = entry.KeyLine("converter_args");
  for (size_t i = 0; i < conversion.args.size(); ++i) {
    const std::string& arg = conversion.args[i];
    if (arg.empty()) return entry.Error(args_line, "converter_args must not hold empty strings");
    if (arg == "--outfile" || absl::StartsWith(arg, "--outfile=")) {
      return entry.Error(args_line,
                         "converter_args must not set --outfile: the output is always "
                         "<models_dir>/<dir>/<file>");
    }
    std::string type;
    if (arg == "--outtype") {
      if (i + 1 == conversion.args.size()) {
        return entry.Error(args_line, "converter_args: --outtype needs a value, e.g. \"f32\"");
      }
      type = conversion.args[++i];
    } else if (absl::StartsWith(arg, "--outtype=")) {
      type = arg.substr(std::string_view("--outtype=").size());
    } else {
      continue;
    }
    if (type.empty() || !std::all_of(type.begin(), type.end(), [](char c) {
          return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
        })) {
      return entry.Error(args_line, absl::StrCat("converter_args: --outtype must be a type "
                                                 "such as f32, f16 or q8_0, got ",
                                                 Quote(type)));
    }
    conversion.output_type = type;
  }
  if (entry.Has("source_patterns")) {
    conversion.source_patterns = entry.Strings("source_patterns");
    const int line = entry.KeyLine("source_patterns");
    if (conversion.source_patterns.empty()) {
      return entry.Error(line,
                         "source_patterns must not be empty (leave it out for the default list)");
    }
    for (const std::string& pattern : conversion.source_patterns) {
      if (!ValidPattern(pattern)) {
        return entry.Error(line, absl::StrCat("source_patterns entries must be plain file globs "
                                              "(no '/', no '..', no leading '-'), got ",
                                              Quote(pattern)));
      }
    }
  } else {
    conversion.source_patterns.assign(std::begin(kDefaultSourcePatterns),
                                      std::end(kDefaultSourcePatterns));
  }
  return conversion;
}

absl::StatusOr<CatalogModel> ReadModel(const Entry& entry) {
  if (absl::Status s = entry.CheckKeys(); !s.ok()) return s;
  if (absl::Status s = entry.CheckRequiredKeys(); !s.ok()) return s;

  CatalogModel model;
  model.line = entry.line();
  model.id = entry.String("id");
  model.name = entry.String("name");
  model.repo = entry.String("repo");
  model.file = entry.String("file");
  model.dir = entry.String("dir");
  model.revision = entry.String("revision", "main");
  model.params = entry.String("params");
  model.description = entry.String("description");
  model.note = entry.String("note");
  model.verified = entry.Bool("verified");

  if (!IsModelId(model.id)) {
    return entry.Error(entry.KeyLine("id"),
                       absl::StrCat("id must match [a-z0-9][a-z0-9-]* (at most ", kMaxModelIdLength,
                                    " characters), got ", Quote(model.id)));
  }
  if (model.name.empty()) return entry.Error(entry.KeyLine("name"), "name must not be empty");
  if (!ValidRepo(model.repo)) {
    return entry.Error(entry.KeyLine("repo"),
                       absl::StrCat("repo must be 'owner/name' (letters, digits, '.', '_', '-'; "
                                    "no '..'), got ",
                                    Quote(model.repo)));
  }
  if (!ValidPathComponent(model.file)) {
    return entry.Error(entry.KeyLine("file"),
                       absl::StrCat("file must be a plain file name, got ", Quote(model.file)));
  }
  if (!absl::EndsWith(model.file, ".gguf")) {
    return entry.Error(entry.KeyLine("file"),
                       absl::StrCat("file must end in .gguf, got ", Quote(model.file)));
  }
  model.former_files = entry.Strings("former_files");
  for (const std::string& former : model.former_files) {
    if (!ValidPathComponent(former) || !absl::EndsWith(former, ".gguf") || former == model.file) {
      return entry.Error(entry.KeyLine("former_files"),
                         absl::StrCat("former_files entries must be plain file names ending in "
                                      ".gguf, other than file, got ",
                                      Quote(former)));
    }
  }
  if (!ValidPathComponent(model.dir)) {
    return entry.Error(entry.KeyLine("dir"),
                       absl::StrCat("dir must be a plain directory name, got ", Quote(model.dir)));
  }
  const int64_t size = entry.Integer("size_bytes");
  if (size <= 0) {
    return entry.Error(entry.KeyLine("size_bytes"),
                       absl::StrCat("size_bytes must be greater than 0, got ", size));
  }
  model.size_bytes = static_cast<uint64_t>(size);
  if (!ValidRevision(model.revision)) {
    return entry.Error(entry.KeyLine("revision"),
                       absl::StrCat("revision must be a branch, tag or 40-hex commit (no spaces, "
                                    "no '..', no leading '-'), got ",
                                    Quote(model.revision)));
  }

  if (!entry.Bool("requires_conversion")) {
    for (const char* key : kConversionKeys) {
      if (entry.Has(key)) {
        return entry.Error(entry.KeyLine(key),
                           absl::StrCat(key, " is only allowed with requires_conversion = true"));
      }
    }
    return model;
  }
  absl::StatusOr<ModelConversion> conversion = ReadConversion(entry);
  if (!conversion.ok()) return conversion.status();
  model.conversion = *std::move(conversion);
  return model;
}

}  // namespace

std::string CatalogModel::HubUrl() const { return "https://huggingface.co/" + repo; }

absl::StatusOr<Catalog> Catalog::Parse(absl::string_view toml_text, absl::string_view source_name) {
  absl::StatusOr<toml::table> parsed = ParseToml(toml_text, source_name);
  if (!parsed.ok()) return parsed.status();
  const toml::table& root = *parsed;

  for (auto&& [key, node] : root) {
    if (key.str() == "models") continue;
    const std::string name(key.str());
    const std::string match = ClosestMatch(name, {"models"});
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", LineOf(key.source()),
                                                   ": unknown top-level key ", Quote(name),
                                                   match.empty() ? "" : " (did you mean 'models'?)",
                                                   "; a catalog holds only [[models]] entries"));
  }
  const toml::node* models_node = root.get("models");
  if (!models_node) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": the catalog has no [[models]] entries"));
  }
  const toml::array* entries = models_node->as_array();
  if (!entries) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", LineOf(models_node->source()),
                                                   ": models must be [[models]] entries, got ",
                                                   TypeName(*models_node)));
  }
  if (entries->empty()) {
    return absl::InvalidArgumentError(absl::StrCat(source_name, ":", LineOf(entries->source()),
                                                   ": the catalog has no [[models]] entries"));
  }

  Catalog catalog;
  catalog.source_name_ = std::string(source_name);
  std::map<std::string, int> id_lines;
  std::map<std::pair<std::string, std::string>, const CatalogModel*> by_location;
  std::map<std::string, const CatalogModel*> conversion_dirs;
  catalog.models_.reserve(entries->size());
  for (size_t i = 0; i < entries->size(); ++i) {
    const toml::node& node = *entries->get(i);
    const toml::table* table = node.as_table();
    if (!table) {
      return absl::InvalidArgumentError(absl::StrCat(source_name, ":", LineOf(node.source()),
                                                     ": models must be [[models]] entries, got ",
                                                     TypeName(node)));
    }
    Entry entry(*table, source_name, static_cast<int>(i + 1));
    absl::StatusOr<CatalogModel> model = ReadModel(entry);
    if (!model.ok()) return model.status();

    auto [id_at, id_is_new] = id_lines.emplace(model->id, model->line);
    if (!id_is_new) {
      return entry.Error(entry.KeyLine("id"),
                         absl::StrCat("duplicate id (first defined at line ", id_at->second, ")"));
    }
    // The store's pointers stay valid: models_ was reserved for every entry.
    catalog.models_.push_back(*std::move(model));
    const CatalogModel& added = catalog.models_.back();
    // A former name is the model's file as much as its current one: no other entry may use it.
    std::vector<std::pair<const char*, std::string>> names = {{"file", added.file}};
    for (const std::string& former : added.former_files) names.emplace_back("former_files", former);
    for (const auto& [key, name] : names) {
      auto [location, location_is_new] = by_location.emplace(std::pair(added.dir, name), &added);
      if (!location_is_new) {
        return entry.Error(entry.KeyLine(key),
                           absl::StrCat("dir and file ", Quote(added.dir + "/" + name),
                                        " are already used by model '", location->second->id,
                                        "' (line ", location->second->line, ")"));
      }
    }
    if (added.conversion) {
      auto [other, dir_is_new] = conversion_dirs.emplace(added.dir, &added);
      if (!dir_is_new) {
        return entry.Error(entry.KeyLine("dir"),
                           absl::StrCat("dir ", Quote(added.dir), " is already used by model '",
                                        other->second->id, "' (line ", other->second->line,
                                        "), which is also converted: their source files in ",
                                        added.dir, "/source/ would mix"));
      }
    }
  }
  return catalog;
}

absl::StatusOr<Catalog> Catalog::LoadFile(const std::string& path) {
  absl::StatusOr<std::string> text = ReadRegularFile(path, {.what = "catalog"});
  if (absl::IsNotFound(text.status())) {
    return WithHint(text.status(),
                    "check the path given with --catalog or the `catalog` configuration key");
  }
  if (!text.ok()) return text.status();
  return Parse(*text, path);
}

const CatalogModel* Catalog::Find(absl::string_view id) const {
  for (const CatalogModel& model : models_) {
    if (model.id == id) return &model;
  }
  return nullptr;
}

bool IsModelId(absl::string_view id) {
  return !id.empty() && id.size() <= kMaxModelIdLength && id[0] != '-' &&
         std::all_of(id.begin(), id.end(), [](char c) {
           return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-';
         });
}

absl::StatusOr<const CatalogModel*> Catalog::Lookup(absl::string_view id) const {
  if (const CatalogModel* model = Find(id)) return model;
  std::vector<std::string> ids;
  for (const CatalogModel& model : models_) ids.push_back(model.id);
  const std::vector<std::string> suggestions = ClosestMatches(id, ids, 3);
  std::string message = absl::StrCat("unknown model ", Quote(id));
  if (!suggestions.empty()) absl::StrAppend(&message, " (did you mean '", suggestions[0], "'?)");
  absl::Status status = WithMetadata(
      WithReason(
          WithHint(absl::NotFoundError(message),
                   absl::StrCat("known models: ", ids.empty() ? "(none)" : absl::StrJoin(ids, ", "),
                                "; `llorch-pool models catalog` shows them all")),
          reasons::kModelNotFound),
      metadata::kModel, id);
  if (suggestions.empty()) return status;
  return WithMetadata(status, metadata::kSuggestions, absl::StrJoin(suggestions, ","));
}

}  // namespace llorch
