#include "agent/dev/doctor.h"

#include <algorithm>
#include <functional>
#include <future>

#include "absl/strings/str_split.h"
#include "agent/dev/doctor_checks.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

struct DoctorCheck {
  const char* name;
  std::function<bool(const DoctorOptions&)> required;
  std::function<v1::Check(const DoctorRun&)> run;
};

v1::Check Outcome(v1::CheckStatus status, absl::string_view detail, absl::string_view fix) {
  v1::Check check;
  check.set_status(status);
  check.set_detail(std::string(detail));
  check.set_fix(std::string(fix));
  return check;
}

bool Always(const DoctorOptions&) { return true; }
bool Never(const DoctorOptions&) { return false; }

// The table, in response order.
const std::vector<DoctorCheck>& Checks() {
  static const auto* checks = new std::vector<DoctorCheck>{
      {"git", Always, CheckGit},
      // The native downloader needs no hf CLI; the hf backend does.
      {"hf.cli", [](const DoctorOptions& o) { return o.download_backend == "hf"; }, CheckHfCli},
      {"rust.toolchain", Always, CheckRustToolchain},
      // Only the catalog's conversion models need it.
      {"python.converter", Never, CheckPythonConverter},
      {"git.submodules", Always, CheckSubmodules},
      {"disk.models", Always, CheckModelsDisk},
      // Skipped without an NVIDIA driver; a driver that is there must work.
      {"gpu.cuda", Always, CheckCuda},
      {"gpu.cuda.uvm", Never, CheckCudaUvm},
      {"gpu.metal", Never, CheckMetal},
      {"config", Always, CheckConfigFiles},
      // Models on disk serve without it.
      {"hub.reachable", Never, CheckHubReachable},
  };
  return *checks;
}

}  // namespace

v1::Check CheckOk(absl::string_view detail) { return Outcome(v1::CHECK_STATUS_OK, detail, ""); }
v1::Check CheckWarn(absl::string_view detail, absl::string_view fix) {
  return Outcome(v1::CHECK_STATUS_WARN, detail, fix);
}
v1::Check CheckFail(absl::string_view detail, absl::string_view fix) {
  return Outcome(v1::CHECK_STATUS_FAIL, detail, fix);
}
v1::Check CheckSkipped(absl::string_view detail) {
  return Outcome(v1::CHECK_STATUS_SKIPPED, detail, "");
}

const std::vector<std::string>& DoctorCheckNames() {
  static const auto* names = [] {
    auto* list = new std::vector<std::string>();
    for (const DoctorCheck& check : Checks()) list->push_back(check.name);
    return list;
  }();
  return *names;
}

v1::RunDoctorResponse RunDoctor(const DoctorOptions& options,
                                const std::vector<std::string>& names) {
  auto wanted = [&names](const std::string& name) {
    return names.empty() || std::find(names.begin(), names.end(), name) != names.end();
  };
  // gpu.cuda and gpu.cuda.uvm share the GPU report: it is read at once when one of them runs.
  const bool gpus = wanted("gpu.cuda") || wanted("gpu.cuda.uvm");
  const DoctorRun run{options,
                      std::async(gpus ? std::launch::async : std::launch::deferred, [&options] {
                        return options.gpus->Read(options.command_timeout);
                      }).share()};
  std::vector<std::pair<const DoctorCheck*, std::future<v1::Check>>> running;
  for (const DoctorCheck& check : Checks()) {
    if (!wanted(check.name)) continue;
    running.emplace_back(&check,
                         std::async(std::launch::async, [&check, &run] { return check.run(run); }));
  }
  v1::RunDoctorResponse response;
  response.set_ok(true);
  for (auto& [check, result] : running) {
    v1::Check* out = response.add_checks();
    *out = result.get();
    // A check writes further facts as more lines of its detail; they travel as Check.lines.
    std::vector<std::string> lines = absl::StrSplit(out->detail(), '\n');
    out->set_detail(lines.front());
    for (size_t i = 1; i < lines.size(); ++i) out->add_lines(lines[i]);
    out->set_name(check->name);
    out->set_required(check->required(options));
    if (out->status() == v1::CHECK_STATUS_FAIL && !out->required()) {
      out->set_status(v1::CHECK_STATUS_WARN);
    }
    v1::DoctorSummary* summary = response.mutable_summary();
    switch (out->status()) {
      case v1::CHECK_STATUS_OK:
        summary->set_ok(summary->ok() + 1);
        break;
      case v1::CHECK_STATUS_WARN:
        summary->set_warn(summary->warn() + 1);
        break;
      case v1::CHECK_STATUS_FAIL:
        summary->set_fail(summary->fail() + 1);
        response.set_ok(false);
        break;
      default:
        summary->set_skipped(summary->skipped() + 1);
        break;
    }
  }
  return response;
}

}  // namespace llorch
