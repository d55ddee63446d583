// The catalog.toml of the source tree, compiled into the binaries at build time.
#ifndef LLORCH_AGENT_MODELS_BUILTIN_CATALOG_H_
#define LLORCH_AGENT_MODELS_BUILTIN_CATALOG_H_

#include "absl/strings/string_view.h"

namespace llorch {

// The bytes of catalog.toml as it was when the binary was built.
absl::string_view BuiltInCatalogText();

// The source name used in error messages about the built-in catalog.
inline constexpr char kBuiltInCatalogName[] = "catalog.toml (built in)";

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_BUILTIN_CATALOG_H_
