#include "agent/server/host_facts.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/git/git_runner.h"
#include "agent/models/store/model_store.h"
#include "common/subprocess.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

constexpr absl::Duration kProgramLookupKept = absl::Seconds(30);

void ToProto(const GpuReport& report, v1::GpuFacts* out) {
  switch (report.source) {
    case GpuSource::kNvml:
      out->set_source(v1::GPU_SOURCE_NVML);
      break;
    case GpuSource::kNvidiaSmi:
      out->set_source(v1::GPU_SOURCE_NVIDIA_SMI);
      break;
    default:
      out->set_source(v1::GPU_SOURCE_NONE);
      break;
  }
  out->set_available(report.available);
  out->set_unavailable_reason(report.unavailable);
  out->set_driver_version(report.driver_version);
  out->set_nvml_problem(report.nvml_problem);
  for (const Gpu& gpu : report.gpus) {
    v1::Gpu* proto = out->add_gpus();
    proto->set_index(gpu.index);
    proto->set_uuid(gpu.uuid);
    proto->set_name(gpu.name);
    proto->set_memory_known(gpu.memory_known);
    proto->set_memory_total_bytes(gpu.memory_total_bytes);
    proto->set_memory_used_bytes(gpu.memory_used_bytes);
    proto->set_memory_free_bytes(gpu.memory_free_bytes);
    proto->set_compute_capability(gpu.compute_capability);
  }
}

// Whether the host has what `backend` needs besides its program; why not when it has not.
std::string Unsupported(v1::Backend backend, const v1::GpuFacts& gpus) {
  switch (backend) {
    case v1::BACKEND_CUDA:
      if (!gpus.available()) {
        return absl::StrCat("GPU facts unavailable: ", gpus.unavailable_reason());
      }
      if (gpus.gpus_size() == 0) return "no NVIDIA GPU";
      return "";
    case v1::BACKEND_METAL:
#ifdef __APPLE__
      return "";
#else
      return "not macOS: Metal exists only there";
#endif
    default:
      return "";
  }
}

}  // namespace

HostFacts::HostFacts(Sources sources) : sources_(std::move(sources)) {}

std::string HostFacts::ProgramPath(const std::string& program) {
  const absl::Time now = absl::Now();
  std::lock_guard lock(mu_);
  auto it = programs_.find(program);
  if (it != programs_.end() && now - it->second.at < kProgramLookupKept) return it->second.path;
  Found found{FindExecutable(program, sources_.path_env).value_or(""), now};
  programs_[program] = found;
  return found.path;
}

void HostFacts::Describe(v1::HostInfo* info) {
  ToProto(sources_.gpus->Read(), info->mutable_gpus());

  for (v1::Backend backend : {v1::BACKEND_CPU, v1::BACKEND_CUDA, v1::BACKEND_METAL}) {
    v1::BackendFacts* facts = info->add_backends();
    facts->set_backend(backend);
    const std::string unsupported = Unsupported(backend, info->gpus());
    facts->set_supported(unsupported.empty());
    auto program = sources_.programs.find(backend);
    if (program != sources_.programs.end()) {
      facts->set_program(program->second);
      facts->set_program_path(ProgramPath(program->second));
    }
    std::string why = unsupported;
    if (why.empty() && facts->program_path().empty()) {
      why = absl::StrCat(facts->program(), facts->program().find('/') == std::string::npos
                                               ? " is not in the agent's PATH"
                                               : " is not an executable file");
    }
    facts->set_available(why.empty());
    facts->set_unavailable_reason(why);
  }

  const ModelStore store(sources_.models_dir);
  if (absl::StatusOr<DiskSpace> space = store.FreeSpace(); space.ok()) {
    info->mutable_models_disk()->set_path(sources_.models_dir.string());
    info->mutable_models_disk()->set_total_bytes(space->total_bytes);
    info->mutable_models_disk()->set_free_bytes(space->free_bytes);
  }
  for (const StoreScan::Model& model : store.Scan(*sources_.catalog).models) {
    if (model.local.state != LocalState::kDownloaded) continue;
    v1::HostModel* out = info->add_models();
    out->set_id(model.model->id);
    out->set_bytes(model.bytes);
  }

  if (absl::StatusOr<std::vector<v1::Worker>> workers = sources_.workers->List(false);
      workers.ok()) {
    std::set<uint32_t> ports;
    for (const v1::Worker& worker : *workers) {
      if (worker.port() != 0) ports.insert(worker.port());
    }
    info->set_live_workers(static_cast<uint32_t>(workers->size()));
    for (uint32_t port : ports) info->add_worker_ports(port);
  }

  if (sources_.repo) {
    v1::RepoHead* repo = info->mutable_repo();
    // One git for both: the commit, then the branch ("HEAD" when detached).
    absl::StatusOr<std::string> head =
        GitRunner(sources_.repo->git)
            .Output(sources_.repo->root, {"rev-parse", "HEAD", "--abbrev-ref", "HEAD"});
    std::vector<std::string> lines =
        head.ok() ? absl::StrSplit(*head, '\n', absl::SkipEmpty()) : std::vector<std::string>();
    if (lines.size() == 2) {
      repo->set_commit(lines[0]);
      if (lines[1] != "HEAD") repo->set_branch(lines[1]);
    } else {
      repo->set_error(head.ok() ? absl::StrCat("git rev-parse printed '", *head, "'")
                                : std::string(head.status().message()));
    }
  }
}

}  // namespace llorch
