#include "common/gpu_inventory.h"

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace {

constexpr char kQueryFields[] =
    "index,uuid,name,memory.total,memory.used,memory.free,driver_version";
constexpr uint64_t kMiB = uint64_t{1} << 20;

// One CSV line of the query with `fields` fields, or nullopt when it is not one.
std::optional<Gpu> ParseGpuLine(absl::string_view line, size_t fields, std::string* driver) {
  std::vector<std::string> values = absl::StrSplit(line, ',');
  if (values.size() != fields) return std::nullopt;
  for (std::string& value : values) value = std::string(absl::StripAsciiWhitespace(value));
  Gpu gpu;
  if (!absl::SimpleAtoi(values[0], &gpu.index)) return std::nullopt;
  gpu.uuid = values[1];
  gpu.name = values[2];
  uint64_t total = 0, used = 0, free = 0;
  // "[N/A]" on GPUs that do not say (some vGPU and MIG set-ups).
  gpu.memory_known = absl::SimpleAtoi(values[3], &total) && absl::SimpleAtoi(values[4], &used) &&
                     absl::SimpleAtoi(values[5], &free);
  if (gpu.memory_known) {
    gpu.memory_total_bytes = total * kMiB;
    gpu.memory_used_bytes = used * kMiB;
    gpu.memory_free_bytes = free * kMiB;
  }
  *driver = values[6];
  if (fields > 7 && !absl::StartsWith(values[7], "[")) gpu.compute_capability = values[7];
  return gpu;
}

bool Says(const ProbeResult& probe, absl::string_view words) {
  for (const auto* lines : {&probe.out, &probe.err}) {
    for (const std::string& line : *lines) {
      if (absl::StrContains(line, words)) return true;
    }
  }
  return false;
}

}  // namespace

GpuInventoryOptions GpuInventoryOptionsFor(const Environment& env) {
  GpuInventoryOptions options;
  if (auto it = env.find(kNvmlLibraryEnv); it != env.end() && !it->second.empty()) {
    options.nvml_library = it->second == "none" ? "" : it->second;
  }
  auto path = env.find("PATH");
  options.path_env = path == env.end() ? "" : path->second;
  return options;
}

const char* GpuSourceName(GpuSource source) {
  switch (source) {
    case GpuSource::kNvml:
      return "NVML";
    case GpuSource::kNvidiaSmi:
      return "nvidia-smi";
    default:
      return "none";
  }
}

std::string GpuReport::Indexes() const {
  std::vector<uint32_t> indexes;
  for (const Gpu& gpu : gpus) indexes.push_back(gpu.index);
  return absl::StrJoin(indexes, ", ");
}

const Gpu* GpuReport::Find(uint32_t index) const {
  for (const Gpu& gpu : gpus) {
    if (gpu.index == index) return &gpu;
  }
  return nullptr;
}

absl::Status CheckGpuExists(const GpuReport& report, uint32_t index) {
  auto refuse = [](std::string message, absl::string_view hint) {
    return WithReason(WithHint(absl::FailedPreconditionError(std::move(message)), hint),
                      reasons::kGpuNotFound);
  };
  if (report.source == GpuSource::kNone) {
    return refuse(absl::StrCat("cannot check that CUDA GPU ", index,
                               " exists: no NVIDIA driver answers (NVML: ", report.nvml_problem,
                               "; no nvidia-smi in the agent's PATH)"),
                  "install the NVIDIA driver (it brings NVML and nvidia-smi) and put nvidia-smi "
                  "in the agent's PATH");
  }
  if (!report.available) {
    return refuse(
        absl::StrCat("cannot check that CUDA GPU ", index, " exists: ", report.unavailable),
        "check the NVIDIA driver with `nvidia-smi`");
  }
  if (report.Find(index) != nullptr) return absl::OkStatus();
  return refuse(
      absl::StrCat("CUDA GPU ", index, " does not exist: ", GpuSourceName(report.source), " lists ",
                   report.gpus.empty() ? "no GPU" : absl::StrCat("GPUs ", report.Indexes())),
      "pass --gpu with an index `nvidia-smi -L` lists");
}

// The NVML session and the thread that makes its calls. Shared with the thread, which outlives
// the inventory when a call hangs (it is then detached, not joined).
struct GpuInventory::NvmlThread {
  std::mutex mu;
  std::condition_variable changed;
  std::function<void()> job;  // the next call to make; null when none
  bool busy = false;          // a job runs
  absl::Time busy_since;
  bool stop = false;
  std::thread thread;
  // Used by the thread only.
  std::unique_ptr<Nvml> nvml;  // the open session; null when none
  std::string driver;
  std::vector<NvmlDevice> devices;

  void Loop() {
    std::unique_lock lock(mu);
    while (true) {
      changed.wait(lock, [this] { return stop || job != nullptr; });
      if (job == nullptr) break;  // stop
      std::function<void()> next = std::move(job);
      job = nullptr;
      busy = true;
      busy_since = absl::Now();
      lock.unlock();
      next();
      lock.lock();
      busy = false;
      changed.notify_all();
    }
    lock.unlock();
    nvml.reset();  // nvmlShutdown on the thread that used the session
  }

  // Opens the session when none is; fills `report` (true) or says why NVML cannot be used.
  bool Read(const std::string& library, GpuReport* report) {
    if (nvml == nullptr) {
      absl::StatusOr<std::unique_ptr<Nvml>> opened = Nvml::Open(library);
      if (!opened.ok()) {
        report->nvml_problem = std::string(opened.status().message());
        return false;
      }
      absl::StatusOr<std::string> version = (*opened)->DriverVersion();
      absl::StatusOr<std::vector<NvmlDevice>> listed =
          version.ok() ? (*opened)->Devices() : version.status();
      if (!listed.ok()) {
        report->nvml_problem = std::string(listed.status().message());
        return false;
      }
      nvml = *std::move(opened);
      driver = *std::move(version);
      devices = *std::move(listed);
    }
    bool lost = false;
    for (const NvmlDevice& device : devices) {
      Gpu gpu;
      gpu.index = device.index;
      gpu.uuid = device.uuid;
      gpu.name = device.name;
      gpu.compute_capability = device.compute_capability;
      absl::StatusOr<NvmlMemory> memory = nvml->Memory(device.index);
      if (memory.ok()) {
        gpu.memory_known = true;
        gpu.memory_total_bytes = memory->total_bytes;
        gpu.memory_used_bytes = memory->used_bytes;
        gpu.memory_free_bytes = memory->free_bytes;
      } else {
        lost = true;  // e.g. "GPU is lost": the list may have changed under the session
      }
      report->gpus.push_back(std::move(gpu));
    }
    report->source = GpuSource::kNvml;
    report->available = true;
    report->driver_version = driver;
    // The next read takes a new inventory.
    if (lost) nvml.reset();
    return true;
  }
};

GpuInventory::GpuInventory(GpuInventoryOptions options) : options_(std::move(options)) {}

GpuInventory::~GpuInventory() {
  if (nvml_ == nullptr) return;
  std::unique_lock lock(nvml_->mu);
  nvml_->stop = true;
  nvml_->changed.notify_all();
  const bool hung = nvml_->busy;
  lock.unlock();
  // A call that hangs in the driver may never return: leave that thread to it.
  if (hung) {
    nvml_->thread.detach();
  } else {
    nvml_->thread.join();
  }
}

GpuReport GpuInventory::Read(std::optional<absl::Duration> timeout) {
  const absl::Duration bound = timeout.value_or(options_.timeout);
  GpuReport report;
  {
    std::lock_guard lock(mu_);
    if (ReadNvmlLocked(bound, &report)) return report;
  }
  ReadNvidiaSmi(bound, &report);
  return report;
}

bool GpuInventory::ReadNvmlLocked(absl::Duration timeout, GpuReport* report) {
  if (options_.nvml_library.empty()) {
    report->nvml_problem = absl::StrCat("not used (", kNvmlLibraryEnv, "=none)");
    return false;
  }
  if (nvml_ == nullptr) {
    nvml_ = std::make_shared<NvmlThread>();
    nvml_->thread = std::thread([thread = nvml_] { thread->Loop(); });
  }
  // nvidia-smi would hang in the same driver: the facts are unavailable, and say why.
  auto unavailable = [report](std::string why) {
    report->source = GpuSource::kNvml;
    report->available = false;
    report->unavailable = std::move(why);
    return true;
  };
  std::unique_lock lock(nvml_->mu);
  if (nvml_->busy) {
    return unavailable(
        absl::StrCat("NVML has not answered since ",
                     absl::FormatTime("%H:%M:%S", nvml_->busy_since, absl::UTCTimeZone()),
                     " UTC (a call into the driver hangs)"));
  }
  struct Result {
    bool done = false;
    bool used = false;
    GpuReport report;
  };
  auto result = std::make_shared<Result>();
  nvml_->job = [thread = nvml_.get(), result, library = options_.nvml_library] {
    GpuReport read;
    const bool used = thread->Read(library, &read);
    std::lock_guard done(thread->mu);
    result->used = used;
    result->report = std::move(read);
    result->done = true;
  };
  nvml_->changed.notify_all();
  if (!nvml_->changed.wait_for(lock, absl::ToChronoMilliseconds(timeout),
                               [&result] { return result->done; })) {
    return unavailable(absl::StrCat("NVML did not answer within ", absl::FormatDuration(timeout),
                                    " (a call into the driver hangs)"));
  }
  *report = std::move(result->report);
  return result->used;
}

void GpuInventory::ReadNvidiaSmi(absl::Duration timeout, GpuReport* report) {
  std::lock_guard lock(smi_mu_);
  const absl::Time now = absl::Now();
  if (smi_hung_ && now - smi_hung_at_ < kNvidiaSmiRetryAfter) {
    const std::string nvml_problem = report->nvml_problem;
    *report = *smi_hung_;
    report->nvml_problem = nvml_problem;
    report->unavailable = absl::StrCat(
        report->unavailable, " (at ",
        absl::FormatTime("%H:%M:%S", smi_hung_at_, absl::UTCTimeZone()),
        " UTC; not started again until ", absl::FormatDuration(kNvidiaSmiRetryAfter), " after)");
    return;
  }
  RunNvidiaSmi(timeout, report);
  smi_hung_.reset();
  if (report->nvidia_smi.timed_out) {
    smi_hung_ = *report;
    smi_hung_at_ = now;
  }
}

void GpuInventory::RunNvidiaSmi(absl::Duration timeout, GpuReport* report) const {
  const absl::Time deadline = absl::Now() + timeout;
  auto query = [&](const std::string& fields) {
    return Probe({options_.nvidia_smi, absl::StrCat("--query-gpu=", fields),
                  "--format=csv,noheader,nounits"},
                 std::max(deadline - absl::Now(), absl::ZeroDuration()), options_.path_env);
  };
  size_t fields = 8;
  ProbeResult& probe = report->nvidia_smi;
  probe = query(absl::StrCat(kQueryFields, ",compute_cap"));
  // Drivers before 510 do not know compute_cap: the rest they answer.
  if (probe.found && !probe.timed_out && probe.exit_code != 0 && Says(probe, "compute_cap")) {
    fields = 7;
    probe = query(kQueryFields);
  }
  if (!probe.found) {
    report->available = true;  // no driver: no GPUs, and that is a fact
    report->unavailable.clear();
    return;
  }
  report->source = GpuSource::kNvidiaSmi;
  // What nvidia-smi prints (exit 6) on a host whose driver sees no GPU.
  report->no_devices = Says(probe, "No devices were found");
  if (report->no_devices) {
    report->available = true;
    return;
  }
  if (!probe.succeeded()) {
    report->unavailable = absl::StrCat(probe.program, " ", probe.Failure(timeout));
    return;
  }
  for (const std::string& line : probe.out) {
    if (absl::StripAsciiWhitespace(line).empty()) continue;
    std::optional<Gpu> gpu = ParseGpuLine(line, fields, &report->driver_version);
    if (!gpu) {
      if (report->malformed.empty()) report->malformed = line;
      continue;
    }
    report->gpus.push_back(*std::move(gpu));
  }
  if (!report->malformed.empty()) {
    report->unavailable =
        absl::StrCat(probe.program, " printed a line that is not a GPU: '", report->malformed, "'");
    report->gpus.clear();
    return;
  }
  report->available = true;
}

}  // namespace llorch
