// What a worker's argv template ([workers.<backend>] argv, common/config.h) may and must contain.
// Pure knowledge shared by the configuration loader (unknown placeholders are refused), the
// worker domain (which fills them in) and `dev check-config` (which names the missing ones).
#ifndef LLORCH_COMMON_WORKER_TEMPLATE_H_
#define LLORCH_COMMON_WORKER_TEMPLATE_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "common/config.h"

namespace llorch {

// Every placeholder the agent fills in, without braces: worker_id, model_path, gpu, port,
// callback_url.
const std::vector<std::string>& WorkerPlaceholders();

// A placeholder a backend's template lacks.
struct MissingPlaceholder {
  std::string name;  // without braces, e.g. "port"
  bool required;     // true: the worker cannot work as configured; false: it works, but badly
  std::string why;   // what goes wrong without it
};

// The placeholders `backend` ("cpu", "cuda" or "metal") needs and `settings.argv` lacks (an
// element containing "{name}" anywhere counts): {model_path} and {port} always; {callback_url}
// and {worker_id} when readiness comes by callback; {gpu} (not required) for cuda and metal,
// without which every worker lands on the first device.
std::vector<MissingPlaceholder> MissingWorkerPlaceholders(absl::string_view backend,
                                                          const Config::WorkerBackend& settings);

}  // namespace llorch

#endif  // LLORCH_COMMON_WORKER_TEMPLATE_H_
