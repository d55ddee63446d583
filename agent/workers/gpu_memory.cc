#include "agent/workers/gpu_memory.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"

namespace llorch {
namespace {

absl::StatusOr<std::vector<GpuProcess>> QueryComputeApps(const std::string& nvidia_smi) {
  SubprocessOptions options;
  options.argv = {nvidia_smi, "--query-compute-apps=pid,used_memory",
                  "--format=csv,noheader,nounits"};
  std::string output;
  options.on_stdout_bytes = [&](absl::string_view bytes) {
    output.append(bytes.data(), bytes.size());
  };
  absl::StatusOr<SubprocessResult> result = RunSubprocess(options);
  if (!result.ok()) return result.status();
  if (!result->succeeded()) {
    std::string message = absl::StrCat(nvidia_smi, " failed: ", result->Describe());
    if (!result->stderr_tail.empty()) absl::StrAppend(&message, ": ", result->stderr_tail.back());
    return absl::UnavailableError(message);
  }
  return ParseComputeApps(output);
}

}  // namespace

std::vector<GpuProcess> ParseComputeApps(absl::string_view output) {
  std::vector<GpuProcess> processes;
  for (absl::string_view line : absl::StrSplit(output, '\n', absl::SkipWhitespace())) {
    std::vector<absl::string_view> fields = absl::StrSplit(line, ',');
    GpuProcess process;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(fields[0]), &process.pid)) continue;
    if (fields.size() > 1) {
      // "[N/A]" leaves 0.
      (void)absl::SimpleAtoi(absl::StripAsciiWhitespace(fields[1]), &process.used_mib);
    }
    processes.push_back(process);
  }
  return processes;
}

std::string GpuMemoryCheck::Describe() const {
  if (released) return "GPU memory released";
  std::string text =
      absl::StrCat("GPU memory not released within ", absl::FormatDuration(bound), ":");
  for (const GpuProcess& process : still_listed) {
    absl::StrAppend(&text, " pid ", process.pid, " still holds ", process.used_mib, " MiB;");
  }
  text.pop_back();
  return text;
}

absl::StatusOr<GpuMemoryCheck> WaitForGpuMemoryRelease(const std::vector<pid_t>& pids,
                                                       const GpuMemoryCheckOptions& options) {
  GpuMemoryCheck check;
  check.bound = options.bound;
  const absl::Time deadline = absl::Now() + options.bound;
  while (true) {
    absl::StatusOr<std::vector<GpuProcess>> listed = QueryComputeApps(options.nvidia_smi);
    if (!listed.ok()) return listed.status();
    check.still_listed.clear();
    for (const GpuProcess& process : *listed) {
      if (std::find(pids.begin(), pids.end(), process.pid) != pids.end()) {
        check.still_listed.push_back(process);
      }
    }
    check.released = check.still_listed.empty();
    if (check.released || absl::Now() >= deadline) return check;
    absl::SleepFor(std::min(options.interval, deadline - absl::Now()));
  }
}

}  // namespace llorch
