// The doctor's checks of programs: git, the hf CLI, Rust, the converter, the GPU drivers.
#include <unistd.h>

#include <future>
#include <map>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "agent/dev/doctor_checks.h"
#include "common/status.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

constexpr char kHfInstall[] = "pipx install 'huggingface_hub[cli]'";
constexpr char kNoGpuFix[] =
    "check that the GPUs are seen (`lspci | grep -i nvidia`) and the nvidia kernel module is "
    "loaded (`lsmod | grep nvidia`)";

// "GPU 0: NVIDIA A100-SXM4-80GB (GPU-...), 81920 MiB total, 0 used, 81920 free".
std::string GpuLine(const Gpu& gpu) {
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  const std::string memory = gpu.memory_known
                                 ? absl::StrCat(gpu.memory_total_bytes / kMiB, " MiB total, ",
                                                gpu.memory_used_bytes / kMiB, " used, ",
                                                gpu.memory_free_bytes / kMiB, " free")
                                 : std::string("memory not reported");
  return absl::StrCat("GPU ", gpu.index, ": ", gpu.name, " (", gpu.uuid, "), ", memory);
}

// "driver 550.54.15, 2 GPUs<suffix>", then a line per GPU.
std::string GpuListing(const GpuReport& report, absl::string_view suffix) {
  std::vector<std::string> lines = {
      absl::StrCat("driver ", report.driver_version, ", ", report.gpus.size(),
                   report.gpus.size() == 1 ? " GPU" : " GPUs", suffix)};
  for (const Gpu& gpu : report.gpus) lines.push_back(GpuLine(gpu));
  return absl::StrJoin(lines, "\n");
}

// What `program --version` says, or the check's FAIL when it says nothing useful.
struct Version {
  std::string line;     // "" when it failed
  std::string problem;  // why, when it failed
};
Version VersionOf(const std::string& program, absl::Duration timeout) {
  ProbeResult probe = Probe({program, "--version"}, timeout);
  if (!probe.found) return {"", absl::StrCat(program, " not found in PATH")};
  if (!probe.succeeded())
    return {"", absl::StrCat(probe.program, " --version: ", probe.Failure(timeout))};
  return {probe.FirstLine(), ""};
}

}  // namespace

v1::Check CheckGit(const DoctorRun& run) {
  Version git = VersionOf(run.options.git, run.options.command_timeout);
  if (!git.problem.empty()) {
    return CheckFail(git.problem,
                     "install git (Debian/Ubuntu: sudo apt install git; macOS: xcode-select "
                     "--install)");
  }
  return CheckOk(git.line);
}

v1::Check CheckHfCli(const DoctorRun& run) {
  const DoctorOptions& options = run.options;
  const bool needed = options.download_backend == "hf";
  const std::string native_note =
      needed ? "download.backend = \"hf\" downloads with it"
             : "the native downloader (download.backend = \"native\") needs none";
  ProbeResult hf = Probe({options.hf_command, "version"}, options.command_timeout);
  if (hf.found) {
    if (!hf.succeeded()) {
      return CheckFail(absl::StrCat(hf.program, " version: ", hf.Failure(options.command_timeout)),
                       absl::StrCat("reinstall it: ", kHfInstall, " --force"));
    }
    return CheckOk(absl::StrCat(hf.FirstLine(), " (", hf.program, ")"));
  }
  const std::string legacy = FindProgram("huggingface-cli");
  if (!legacy.empty()) {
    return CheckFail(absl::StrCat("only the deprecated huggingface-cli (", legacy, "), no `",
                                  options.hf_command, "` in PATH; ", native_note),
                     absl::StrCat(kHfInstall, " (it replaces huggingface-cli)"));
  }
  return CheckFail(absl::StrCat("no `", options.hf_command, "` in PATH; ", native_note),
                   needed ? absl::StrCat(kHfInstall, ", or set download.backend = \"native\"")
                          : absl::StrCat(kHfInstall, " (only if you want the hf backend)"));
}

v1::Check CheckRustToolchain(const DoctorRun& run) {
  const absl::Duration timeout = run.options.command_timeout;
  auto rustc =
      std::async(std::launch::async, [&] { return VersionOf(run.options.rustc, timeout); });
  Version cargo = VersionOf(run.options.cargo, timeout);
  Version compiler = rustc.get();
  if (!compiler.problem.empty() || !cargo.problem.empty()) {
    std::vector<std::string> problems;
    for (const Version* v : {&compiler, &cargo}) {
      if (!v->problem.empty()) problems.push_back(v->problem);
    }
    return CheckFail(absl::StrJoin(problems, "; "),
                     "install Rust with rustup (https://rustup.rs: curl --proto '=https' "
                     "--tlsv1.2 -sSf https://sh.rustup.rs | sh), then open a new shell so "
                     "~/.cargo/bin is in PATH");
  }
  return CheckOk(absl::StrCat(compiler.line, "; ", cargo.line));
}

v1::Check CheckPythonConverter(const DoctorRun& run) {
  const DoctorOptions& options = run.options;
  // Models by converter script: each script is looked for once.
  std::map<std::string, std::vector<const CatalogModel*>> by_script;
  for (const CatalogModel& model : options.catalog->models()) {
    if (model.conversion) by_script[model.conversion->script].push_back(&model);
  }
  if (by_script.empty()) return CheckSkipped("no catalog model needs a conversion");
  Version python = VersionOf(options.converter.python, options.command_timeout);
  if (!python.problem.empty()) {
    return CheckFail(absl::StrCat(python.problem, ": the conversion models cannot be made"),
                     "install python3 (Debian/Ubuntu: sudo apt install python3), or set "
                     "convert.python");
  }
  std::vector<std::string> found, missing, fixes;
  for (const auto& [script, models] : by_script) {
    std::vector<std::string> ids;
    for (const CatalogModel* model : models) ids.push_back(model->id);
    absl::StatusOr<ConverterProgram> program = FindConverter(*models.front(), options.converter);
    if (program.ok()) {
      found.push_back(absl::StrCat(script, " for ", absl::StrJoin(ids, ", ")));
      continue;
    }
    missing.push_back(absl::StrCat(absl::StrJoin(ids, ", "), ": ", program.status().message()));
    if (std::optional<std::string> hint = GetHint(program.status())) fixes.push_back(*hint);
  }
  if (!missing.empty()) {
    return CheckFail(absl::StrCat(python.line, "; cannot convert ", absl::StrJoin(missing, "; ")),
                     absl::StrJoin(fixes, "; "));
  }
  return CheckOk(absl::StrCat(python.line, "; ", absl::StrJoin(found, "; ")));
}

v1::Check CheckCuda(const DoctorRun& run) {
  const GpuReport& report = run.gpus.get();
  const ProbeResult& probe = report.nvidia_smi;
  const std::string driver_fix =
      "check the driver: `dmesg | grep -i -e nvrm -e xid` for errors; reload the nvidia kernel "
      "modules or reboot; reinstall the driver if nvidia-smi still fails";
  if (report.source == GpuSource::kNvml) {
    if (!report.available) {
      return CheckFail(absl::StrCat(report.unavailable, ": the driver is not answering"),
                       driver_fix);
    }
    if (report.gpus.empty()) {
      return CheckWarn(absl::StrCat("NVML (driver ", report.driver_version, ") found no GPU"),
                       kNoGpuFix);
    }
    return CheckOk(GpuListing(report, " (NVML)"));
  }
  const std::string& nvidia_smi = run.options.gpus->options().nvidia_smi;
  if (!probe.found) {
    return CheckSkipped(absl::StrCat("no ", nvidia_smi, " in PATH: no NVIDIA driver on this host"));
  }
  if (probe.timed_out) {
    return CheckFail(absl::StrCat(probe.program, " ", probe.Failure(run.options.command_timeout),
                                  ": the driver is not answering"),
                     driver_fix);
  }
  if (report.no_devices || (probe.succeeded() && report.gpus.empty() && report.malformed.empty())) {
    return CheckWarn(absl::StrCat(probe.program, " found no GPU"), kNoGpuFix);
  }
  if (!probe.succeeded()) {
    return CheckFail(
        absl::StrCat(probe.program, " failed: ", probe.Failure(run.options.command_timeout)),
        driver_fix);
  }
  if (!report.malformed.empty()) {
    return CheckFail(
        absl::StrCat(probe.program, " printed a line that is not a GPU: '", report.malformed, "'"),
        "update the NVIDIA driver (its nvidia-smi does not answer the query "
        "--query-gpu=index,uuid,name,memory.total,memory.used,memory.free,"
        "driver_version)");
  }
  return CheckOk(GpuListing(report, ""));
}

v1::Check CheckCudaUvm(const DoctorRun& run) {
  const GpuReport& report = run.gpus.get();
  if (report.gpus.empty()) return CheckSkipped("no NVIDIA GPU found (see gpu.cuda)");
  const std::string path = run.options.nvidia_uvm.string();
  if (access(path.c_str(), F_OK) == 0) return CheckOk(absl::StrCat(path, " present"));
  return CheckFail(absl::StrCat(path, " is missing: CUDA programs cannot start"),
                   "sudo nvidia-modprobe -u -c=0 (or sudo modprobe nvidia-uvm)");
}

v1::Check CheckMetal(const DoctorRun&) {
#ifdef __APPLE__
  return CheckOk("macOS: Metal is part of the system");
#else
  return CheckSkipped("not macOS: Metal exists only there");
#endif
}

}  // namespace llorch
