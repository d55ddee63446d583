// The configuration's TOML layer (MergeConfigText, as LoadConfig applies a pool.toml) on any
// text: an error leaves the configuration unchanged and names the file; an accepted document's
// values, rendered back as TOML (ConfigValueAsToml, what `config show` prints), are accepted
// again and give the same values.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/config.h"
#include "fuzz/fuzz_check.h"

namespace {

std::string Render(const llorch::Config& config) {
  std::string text;
  for (const std::string& key : llorch::ConfigKeys()) {
    absl::StrAppend(&text, key, " = ", llorch::ConfigValueAsToml(config, key), "\n");
  }
  return text;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  static const std::string before = Render(llorch::Config{});  // rendering copies the config
  llorch::Config config;
  const absl::Status status = llorch::MergeConfigText(text, "pool.toml", &config);
  if (!status.ok()) {
    FUZZ_CHECK(Render(config) == before, "a refused layer changes nothing");
    FUZZ_CHECK(absl::StartsWith(status.message(), "pool.toml"), "every error names the file");
    FUZZ_CHECK(!llorch::CheckConfigText(text, "pool.toml").empty(),
               "dev check-config finds the problem too");
    return 0;
  }
  const std::string rendered = Render(config);
  llorch::Config again;
  const absl::Status reparsed = llorch::MergeConfigText(rendered, "rendered.toml", &again);
  if (!reparsed.ok())
    std::fprintf(stderr, "%s\n%s\n", rendered.c_str(), reparsed.ToString().c_str());
  FUZZ_CHECK(reparsed.ok(), "the rendered configuration is accepted");
  FUZZ_CHECK(Render(again) == rendered, "the rendered configuration gives the same values");
  return 0;
}
