// What the catalog and its lock file share when they read TOML and explain what is wrong in it.
#ifndef LLORCH_AGENT_MODELS_TOML_TEXT_H_
#define LLORCH_AGENT_MODELS_TOML_TEXT_H_

#include <toml++/toml.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// `text` parsed; a syntax error is InvalidArgument "<source_name>:<line>:<column>: TOML syntax
// error: ...".
absl::StatusOr<toml::table> ParseToml(absl::string_view text, absl::string_view source_name);

// A value as it may be shown in a message: quoted, with unprintable bytes escaped.
std::string Quote(absl::string_view value);

// "a string", "an integer", ...: what `node` is, for "X must be ..., got <this>".
std::string TypeName(const toml::node& node);

// The line a region starts on (1-based; 0 when unknown).
int LineOf(const toml::source_region& region);

// True when `text` holds a byte below 0x20 or DEL.
bool HasControlCharacter(absl::string_view text);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_TOML_TEXT_H_
