// `dev setup`: takes a host from bare to ready as the work of one "dev.setup" operation, as plain
// domain code (the gRPC adapter is dev_service.h). Each step first finds out whether it has
// anything to do, so a second run changes nothing, and a dry run only says what each would do:
//   - "submodules": the submodules not initialized yet are initialized (GitRepo::UpdateSubmodules,
//     the code of `git submodules update`); initialized ones are left where they are.
//   - "hf": only when download.backend is "hf" and hf_command is not in PATH: `pipx install
//     huggingface_hub[cli]`, else `python3 -m pip install --user huggingface_hub[cli]` (argv, no
//     shell). The native downloader needs no hf CLI: skipped, saying so.
//   - "model": the recommended model (RecommendedModel) downloaded as `models download` does
//     (DownloadCatalogModel: verified before it is installed); downloaded already: nothing to do.
//   - "config": a default configuration (DefaultConfigText) written to the user config file
//     where none exists; an existing one is never overwritten, except with force when it differs
//     from the default, and then only after it was copied to FILE.bak-<UTC time>; both written
//     atomically.
//   - "doctor": RunDoctor's checks (changing nothing); a required check failing fails the step.
// A failed step does not stop the others (each says how to retry); cancelling does.
#ifndef LLORCH_AGENT_DEV_SETUP_H_
#define LLORCH_AGENT_DEV_SETUP_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/dev/doctor.h"
#include "agent/git/git_repo.h"
#include "agent/models/catalog.h"
#include "agent/models/model_download.h"
#include "agent/ops/operation.h"
#include "llorch/pool/v1/dev.pb.h"

namespace llorch {

struct SetupOptions {
  DoctorOptions doctor;  // also the catalog, the models dir and the checkout
  // The git service's checkout (its changing commands run one at a time); null: one made from
  // doctor.repo.
  std::shared_ptr<const GitRepo> repo;
  DownloadSettings download;       // as ModelService downloads
  std::string default_model;       // config workers.default_model; "" = none
  std::string config_file;         // where the default configuration goes; "" = nowhere known
  std::string path_env;            // PATH, where hf, pipx and python are looked up
  std::string python = "python3";  // config convert.python: runs pip when there is no pipx
  // Hears the model the "model" step installed (not one already there), with the operation's id:
  // the agent publishes it as a download does. None when null.
  std::function<void(const CatalogModel& model, const pool::v1::Manifest& manifest,
                     const std::string& operation_id)>
      installed;
};

// The step names, in order: "submodules", "hf", "model", "config", "doctor".
const std::vector<std::string>& SetupStepNames();

// The model the "model" step downloads without --model: workers.default_model when set, else
// "tinyllama" when the catalog has it, else the catalog's first model; "" for an empty catalog.
std::string RecommendedModel(const Catalog& catalog, absl::string_view default_model);

// The default configuration file: every key with its built-in default, commented out.
std::string DefaultConfigText();

struct SetupRequest {
  std::vector<std::string> skip;  // step names (SetupStepNames')
  std::string model_id;           // a catalog id; "" = RecommendedModel
  bool dry_run = false;
  bool force = false;
};

// The work of a "dev.setup" operation: runs (or plans) every step, reporting into `op`, then
// Succeed with a DevSetupResult; Fail only when cancelled.
void RunSetup(const SetupOptions& options, const SetupRequest& request, Operation& op);

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_SETUP_H_
