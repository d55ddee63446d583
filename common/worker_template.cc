#include "common/worker_template.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace llorch {

const std::vector<std::string>& WorkerPlaceholders() {
  static const std::vector<std::string> names = {"worker_id", "model_path", "gpu", "port",
                                                 "callback_url"};
  return names;
}

std::vector<MissingPlaceholder> MissingWorkerPlaceholders(absl::string_view backend,
                                                          const Config::WorkerBackend& settings) {
  const bool by_callback = settings.ready == "callback";
  const std::vector<MissingPlaceholder> needed = {
      {"model_path", true, "the worker is not told which model to serve"},
      {"port", true,
       "the worker is not told the port the agent chose, so two workers collide and the agent "
       "looks for it on the wrong port"},
      {"callback_url", by_callback,
       "the worker never reports ready (ready = \"callback\"), so every spawn times out"},
      {"worker_id", by_callback,
       "the worker's ready callback cannot name the worker (ready = \"callback\")"},
      {"gpu", false, "every worker of this backend uses the first device"},
  };
  std::vector<MissingPlaceholder> missing;
  for (const MissingPlaceholder& placeholder : needed) {
    if (placeholder.name == "gpu" && backend == "cpu") continue;
    if ((placeholder.name == "callback_url" || placeholder.name == "worker_id") && !by_callback) {
      continue;
    }
    const std::string braced = absl::StrCat("{", placeholder.name, "}");
    bool found = false;
    for (const std::string& element : settings.argv) found |= absl::StrContains(element, braced);
    if (!found) missing.push_back(placeholder);
  }
  return missing;
}

}  // namespace llorch
