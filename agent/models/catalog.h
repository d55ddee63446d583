// The model catalog: which models exist, where on the Hub they come from, where they go on disk.
//
// Parsed from TOML (catalog.toml; see its header for the keys) and validated as a whole at load:
// unique ids, `owner/name` repos, file and dir names that cannot escape the models directory,
// sane conversion settings. Every error names the source, the line and the entry.
#ifndef LLORCH_AGENT_MODELS_CATALOG_H_
#define LLORCH_AGENT_MODELS_CATALOG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

struct ModelConversion {
  std::string converter;                     // e.g. "llama.cpp"
  std::string script;                        // relative to the repository root
  std::vector<std::string> args;             // e.g. {"--outtype", "f32"}
  std::vector<std::string> source_patterns;  // globs of source files to fetch
  std::string output_type;                   // from --outtype, e.g. "f32"; "" if absent
};

struct CatalogModel {
  std::string id, name, repo, file, dir, revision, params, description, note;
  uint64_t size_bytes = 0;
  bool verified = false;
  std::optional<ModelConversion> conversion;
  int line = 0;  // line of the entry's [[models]] header in its source

  // https://huggingface.co/<repo>
  std::string HubUrl() const;
};

class Catalog {
 public:
  Catalog() = default;

  static absl::StatusOr<Catalog> Parse(absl::string_view toml_text, absl::string_view source_name);
  static absl::StatusOr<Catalog> LoadFile(const std::string& path);

  const std::vector<CatalogModel>& models() const { return models_; }
  const std::string& source_name() const { return source_name_; }

  // The model with `id`, or nullptr.
  const CatalogModel* Find(absl::string_view id) const;
  // The model with `id`, or NotFound naming the closest id and the known ones, with a hint.
  absl::StatusOr<const CatalogModel*> Lookup(absl::string_view id) const;

 private:
  std::vector<CatalogModel> models_;
  std::string source_name_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_CATALOG_H_
