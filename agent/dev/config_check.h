// `dev check-config`: every finding in the configuration, with the file and line (or variable or
// flag) it comes from, what is wrong and the fix, and every effective value with its origin.
//
// The layers are walked by WalkConfigLayers (common/config.h), the very walk that loads the
// configuration, told to walk on past problems; no second parser can disagree with what the
// agent loads. The effective values are then checked against this host: paths that must exist
// (or be creatable), the catalog and the default model, listeners' ports (free, or held by this
// agent), worker programs and argv templates (common/worker_template.h), the worker port range
// against the kernel's ephemeral range, the token files (as the agent reads them) and the TLS
// files (PEM, key permissions, the key the certificate's, certificates valid now). A host check's
// finding points to where the value was set. Nothing is changed.
#ifndef LLORCH_AGENT_DEV_CONFIG_CHECK_H_
#define LLORCH_AGENT_DEV_CONFIG_CHECK_H_

#include <sys/types.h>

#include <functional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "common/config.h"
#include "llorch/pool/v1/dev.pb.h"

namespace llorch {

// What the host checks ask of the host; production fills it from the real one, tests with
// their own facts.
struct ConfigHostFacts {
  std::string working_dir;  // where relative repo_root, state_dir and catalog resolve
  uid_t uid = 0;            // whose default state dir, and who must be able to write
  std::pair<int, int> ephemeral_ports{32768, 60999};  // EphemeralPortRange()
  std::function<bool(int)> port_free;                 // PortIsFree()
  std::set<int> own_ports;  // TCP ports this agent holds: its listeners, its callback listener
  // The CLI's in-process agent: it binds no listener and no callback port of the configuration,
  // so a busy one is a warning (a running pool-agent may hold it), not an error.
  bool in_process = false;
  std::string path_env;  // PATH, where worker programs, hf and python are looked up
};

// The host checks of `config` (an effective configuration, as WalkConfigLayers made it).
std::vector<ConfigProblem> CheckConfigOnHost(const Config& config, const ConfigHostFacts& host);

// Walks `sources` and checks the result: the whole answer of DevService.CheckConfig.
pool::v1::CheckConfigResponse CheckConfiguration(const ConfigSources& sources,
                                                 const ConfigHostFacts& host);

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_CONFIG_CHECK_H_
