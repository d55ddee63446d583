// Catalog::Parse on any text: either an error naming the source, or a catalog whose entries
// hold what catalog.h promises (ids of the id form, found by Lookup; file and dir single path
// components; no (dir, file) pair twice).
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/match.h"
#include "agent/models/catalog.h"
#include "fuzz/fuzz_check.h"

namespace {

bool IsPlainComponent(const std::string& name) {
  return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos &&
         name.find('\0') == std::string::npos;
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
    for (const std::string& former : model.former_files) {
      FUZZ_CHECK(IsPlainComponent(former), "former_files are single path components");
    }
  }
  return 0;
}
