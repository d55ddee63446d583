// The doctor's checks, one function each (doctor.h runs them). A check says FAIL for what is
// broken; the runner turns that into WARN for an optional check. A detail's first line is
// Check.detail, its further lines ('\n'-separated) Check.lines. Internal to agent/dev.
#ifndef LLORCH_AGENT_DEV_DOCTOR_CHECKS_H_
#define LLORCH_AGENT_DEV_DOCTOR_CHECKS_H_

#include <future>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/dev/doctor.h"
#include "common/gpu_inventory.h"
#include "common/probe.h"
#include "llorch/pool/v1/dev.pb.h"

namespace llorch {

// A check's outcome without its name and required flag (the runner sets those).
pool::v1::Check CheckOk(absl::string_view detail);
pool::v1::Check CheckWarn(absl::string_view detail, absl::string_view fix);
pool::v1::Check CheckFail(absl::string_view detail, absl::string_view fix);
pool::v1::Check CheckSkipped(absl::string_view detail);

// What a check sees: the options, and the GPU inventory's report (read when first asked, shared
// by gpu.cuda and gpu.cuda.uvm).
struct DoctorRun {
  const DoctorOptions& options;
  std::shared_future<GpuReport> gpus;
};

// Programs (doctor_tools.cc).
pool::v1::Check CheckGit(const DoctorRun& run);
pool::v1::Check CheckHfCli(const DoctorRun& run);
pool::v1::Check CheckRustToolchain(const DoctorRun& run);
pool::v1::Check CheckPythonConverter(const DoctorRun& run);
pool::v1::Check CheckCuda(const DoctorRun& run);
pool::v1::Check CheckCudaUvm(const DoctorRun& run);
pool::v1::Check CheckMetal(const DoctorRun& run);
// The host's files and network (doctor_host.cc).
pool::v1::Check CheckSubmodules(const DoctorRun& run);
pool::v1::Check CheckModelsDisk(const DoctorRun& run);
pool::v1::Check CheckConfigFiles(const DoctorRun& run);
pool::v1::Check CheckHubReachable(const DoctorRun& run);

}  // namespace llorch

#endif  // LLORCH_AGENT_DEV_DOCTOR_CHECKS_H_
