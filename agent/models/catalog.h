// The model catalog: which models exist, where on the Hub they come from, where they go on disk.
//
// Parsed from TOML (catalog.toml; its header explains every key) and validated as a whole at
// load, so nothing later has to distrust it: ids are unique `[a-z0-9][a-z0-9-]*`, repos are
// `owner/name`, `file` and `dir` are single path components that cannot leave the models
// directory, no two entries share a (dir, file) pair, conversion settings are complete and name
// only relative paths. Unknown keys and wrong types are errors. Every error names the source,
// the line and the entry: "catalog.toml:42: model 'phi3': file must be a plain file name, ...".
// A Catalog is immutable once loaded and safe to read from several threads.
#ifndef LLORCH_AGENT_MODELS_CATALOG_H_
#define LLORCH_AGENT_MODELS_CATALOG_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// How a model without a GGUF file on the Hub is made locally (requires_conversion = true).
struct ModelConversion {
  std::string converter;                     // converter family, "llama.cpp"
  std::string script;                        // relative to the repository root, no ".."
  std::vector<std::string> args;             // extra arguments, e.g. {"--outtype", "f32"}
  std::vector<std::string> source_patterns;  // globs of the source repo's files to fetch
  std::string output_type;                   // from "--outtype X" in args, e.g. "f32"; "" if unset
};

struct CatalogModel {
  std::string id;           // command-line id, e.g. "qwen"
  std::string name;         // human name
  std::string repo;         // Hub repository, "owner/name"
  std::string file;         // GGUF file name (on the Hub, or the conversion's output)
  std::string dir;          // directory under the models dir; may be shared with other entries
  std::string revision;     // Hub branch, tag or commit; "main" when not given
  std::string params;       // parameter count as usually written, e.g. "0.5B"
  std::string description;  // one line
  std::string note;         // known doubts in plain words; "" when none
  // Names the file had on older hosts, in the same dir: a download renames such a file to
  // `file` and adopts it when its bytes are the Hub's.
  std::vector<std::string> former_files;
  uint64_t size_bytes = 0;  // expected size: for display and the free-space check only
  bool verified = false;    // false when anything about the entry is in doubt
  std::optional<ModelConversion> conversion;  // set when the model is converted locally
  int line = 0;                               // line of the entry's [[models]] header in its source

  // "https://huggingface.co/<repo>"
  std::string HubUrl() const;
};

inline constexpr size_t kMaxModelIdLength = 64;

// True when `id` has the form of a model id: [a-z0-9][a-z0-9-]*, at most kMaxModelIdLength.
bool IsModelId(absl::string_view id);

class Catalog {
 public:
  Catalog() = default;  // empty; only useful as a placeholder before loading

  // Parses and validates `toml_text`; `source_name` prefixes every error message.
  static absl::StatusOr<Catalog> Parse(absl::string_view toml_text, absl::string_view source_name);
  // Reads `path` and parses it with `path` as the source name. NotFound if it does not exist;
  // InvalidArgument if it is not a regular file or larger than 1 MiB (common/file_read.h).
  static absl::StatusOr<Catalog> LoadFile(const std::string& path);

  // In file order.
  const std::vector<CatalogModel>& models() const { return models_; }
  const std::string& source_name() const { return source_name_; }

  // The model with `id`, or nullptr.
  const CatalogModel* Find(absl::string_view id) const;
  // The model with `id`, or NotFound: "unknown model 'qwn' (did you mean 'qwen'?); known
  // models: tinyllama, qwen, ...".
  absl::StatusOr<const CatalogModel*> Lookup(absl::string_view id) const;

 private:
  std::vector<CatalogModel> models_;
  std::string source_name_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_CATALOG_H_
