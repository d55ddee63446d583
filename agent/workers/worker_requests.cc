#include "agent/workers/worker_requests.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "agent/models/catalog.h"
#include "agent/rpc/request_rules.h"

namespace llorch {
namespace v1 = pool::v1;

bool IsWorkerId(absl::string_view id) {
  if (id.empty() || id.size() > kMaxWorkerIdLength || id.front() == '-') return false;
  for (char c : id) {
    if (!absl::ascii_islower(c) && !absl::ascii_isdigit(c) && c != '-') return false;
  }
  return true;
}

namespace {

absl::Status CheckWorkerId(absl::string_view field, const std::string& id, absl::string_view hint) {
  if (IsWorkerId(id)) return absl::OkStatus();
  return InvalidField(field,
                      absl::StrCat(ShowValue(id),
                                   " is not a worker id: lower-case letters, digits and '-', "
                                   "starting with a letter or digit, at most ",
                                   kMaxWorkerIdLength, " of them"),
                      hint);
}

}  // namespace

absl::Status Validate(const v1::SpawnWorkerRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (request.backend() == v1::BACKEND_UNSPECIFIED) {
    return InvalidField("backend", "required",
                        "set backend to BACKEND_CPU, BACKEND_CUDA or BACKEND_METAL");
  }
  if (request.port() != 0 && (request.port() < 1024 || request.port() > 65535)) {
    return InvalidField("port", absl::StrCat(request.port(), " is not a port in 1024-65535"),
                        "leave port at 0 to take the first free one of the configured range");
  }
  if (!request.worker_id().empty()) {
    if (absl::Status id = CheckWorkerId("worker_id", request.worker_id(),
                                        "leave worker_id empty for worker-<backend>-<gpu>");
        !id.ok()) {
      return id;
    }
  }
  if (request.has_ready_timeout() &&
      (request.ready_timeout().seconds() < 1 || request.ready_timeout().seconds() > 86400 ||
       request.ready_timeout().nanos() < 0)) {
    return InvalidField("ready_timeout", "must be between 1 second and 1 day",
                        "leave it unset for workers.ready_timeout_seconds");
  }
  if (!request.model_id().empty() && !IsModelId(request.model_id())) {
    return InvalidField("model_id",
                        absl::StrCat(ShowValue(request.model_id()), " is not a model id"),
                        "`llorch-pool models catalog` lists the model ids");
  }
  return absl::OkStatus();
}

absl::Status Validate(const v1::ListWorkersRequest& request) { return CheckRequestRules(request); }

absl::Status Validate(const v1::GetWorkerLogsRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  if (absl::Status id =
          CheckWorkerId("id", request.id(), "`llorch-pool worker list --all` lists the worker ids");
      !id.ok()) {
    return id;
  }
  if (request.tail_lines() > kMaxTailLines) {
    return InvalidField("tail_lines",
                        absl::StrCat(request.tail_lines(), " is more than ", kMaxTailLines),
                        "leave tail_lines at 0 for the whole log");
  }
  return absl::OkStatus();
}

absl::Status Validate(const v1::StopWorkerRequest& request) {
  if (absl::Status rules = CheckRequestRules(request); !rules.ok()) return rules;
  // Pids alone are a full request; ids and all follow the list-or-all rule.
  if (request.pids_size() == 0 || request.ids_size() > 0 || request.all()) {
    if (absl::Status targets = CheckListOrAll(
            "ids", request.ids_size(), "all", request.all(),
            "name the workers (`llorch-pool worker list` shows them), set all, or give pids");
        !targets.ok()) {
      return targets;
    }
  }
  for (int i = 0; i < request.ids_size(); ++i) {
    if (absl::Status id = CheckWorkerId(FieldAt("ids", i), request.ids(i),
                                        "`llorch-pool worker list --all` lists the worker ids");
        !id.ok()) {
      return id;
    }
  }
  for (int i = 0; i < request.pids_size(); ++i) {
    if (request.pids(i) < 2 || request.pids(i) > kMaxPid) {
      return InvalidField(
          FieldAt("pids", i),
          absl::StrCat(request.pids(i), " is not a process id (2 to ", kMaxPid, ")"),
          "`llorch-pool worker list` shows the workers' pids");
    }
  }
  if (request.has_timeout() &&
      (request.timeout().seconds() < 1 || request.timeout().seconds() > 3600 ||
       request.timeout().nanos() < 0)) {
    return InvalidField("timeout", "must be between 1 second and 1 hour",
                        "leave it unset for workers.stop_timeout_seconds");
  }
  return absl::OkStatus();
}

}  // namespace llorch
