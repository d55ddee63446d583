// Catalog::Parse on any text: either an error naming the source, or a catalog whose entries
// hold what catalog.h promises (ids of the id form, found by Lookup; file and dir single path
// components; no (dir, file) pair twice).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "agent/models/catalog.h"
#include "fuzz/fuzz_check.h"

namespace {

bool IsPlainComponent(absl::string_view name) {
  return !name.empty() && name != "." && name != ".." && name[0] != '-' &&
         name.find_first_of(absl::string_view("/\\\0", 3)) == absl::string_view::npos;
}

// A relative path of plain components: what may name a converter script.
bool IsRelativePath(absl::string_view path) {
  if (path.empty() || path[0] == '/') return false;
  for (absl::string_view part : absl::StrSplit(path, '/')) {
    if (part.empty() || part == "." || part == ".." || part.find('\0') != part.npos) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<llorch::Catalog> catalog = llorch::Catalog::Parse(text, "fuzz.toml");
  if (!catalog.ok()) {
    FUZZ_CHECK(absl::StartsWith(catalog.status().message(), "fuzz.toml"),
               "every error names the source");
    return 0;
  }
  std::set<std::pair<std::string, std::string>> files;
  for (const llorch::CatalogModel& model : catalog->models()) {
    FUZZ_CHECK(llorch::IsModelId(model.id), "ids have the id form");
    FUZZ_CHECK(catalog->Find(model.id) == &model, "Find gives the entry back");
    FUZZ_CHECK(IsPlainComponent(model.file), "file is a single path component");
    FUZZ_CHECK(IsPlainComponent(model.dir), "dir is a single path component");
    FUZZ_CHECK(files.emplace(model.dir, model.file).second, "no (dir, file) pair twice");
    const std::vector<absl::string_view> repo = absl::StrSplit(model.repo, '/');
    FUZZ_CHECK(repo.size() == 2 && IsPlainComponent(repo[0]) && IsPlainComponent(repo[1]),
               "repos are owner/name");
    FUZZ_CHECK(!model.revision.empty() && model.revision[0] != '-' &&
                   !absl::StrContains(model.revision, ".."),
               "revisions read as no option and climb nowhere");
    if (model.conversion) {
      FUZZ_CHECK(IsRelativePath(model.conversion->script), "the converter script is relative");
      FUZZ_CHECK(!model.conversion->source_patterns.empty(), "a conversion fetches something");
    }
    for (const std::string& former : model.former_files) {
      FUZZ_CHECK(IsPlainComponent(former), "former_files are single path components");
    }
  }
  return 0;
}
