// WorkerManager's stops and its view of unmanaged worker processes (worker_manager.h; the
// contract is StopWorker's and ListWorkers' in worker.proto).
#include <signal.h>

#include <algorithm>
#include <thread>
#include <unordered_set>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/rpc/grpc_status.h"
#include "agent/workers/gpu_memory.h"
#include "agent/workers/proc_fs.h"
#include "agent/workers/process_scan.h"
#include "agent/workers/worker_manager.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "google/protobuf/util/time_util.h"

namespace llorch {
namespace v1 = pool::v1;
using google::protobuf::util::TimeUtil;
namespace {

// How long a stop waits, after the watcher could have seen the exit, for it to say so.
constexpr absl::Duration kExitReportWait = absl::Seconds(5);
// How long a stopped CUDA worker's memory may take to come back (the driver frees it shortly
// after the exit).
constexpr absl::Duration kGpuReleaseBound = absl::Seconds(10);
// Targets stopped at once: each waits in its own thread, so that n workers that ignore the stop
// signal take one timeout, not n.
constexpr size_t kParallelStops = 32;

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

v1::WorkerStopOutcome::Ending EndingOf(StopOutcome::Ending ending) {
  switch (ending) {
    case StopOutcome::Ending::kAlreadyExited:
      return v1::WorkerStopOutcome::ENDING_ALREADY_EXITED;
    case StopOutcome::Ending::kExitedOnStopSignal:
      return v1::WorkerStopOutcome::ENDING_EXITED_ON_STOP_SIGNAL;
    case StopOutcome::Ending::kKilled:
      return v1::WorkerStopOutcome::ENDING_KILLED;
  }
  return v1::WorkerStopOutcome::ENDING_UNSPECIFIED;
}

// `row` filled from `outcome`: how it ended, the group's fate and the summary line.
void FillFromOutcome(const StopOutcome& outcome, v1::WorkerStopOutcome& row) {
  row.set_ending(EndingOf(outcome.ending));
  *row.mutable_waited() =
      TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(outcome.waited));
  row.set_exit_code(outcome.exit_code.value_or(-1));
  for (pid_t pid : outcome.killed_others) row.add_killed_others(pid);
  for (pid_t pid : outcome.remaining) row.add_remaining(pid);
  row.set_summary(outcome.Describe());
  if (!outcome.exit_code && outcome.ending != StopOutcome::Ending::kAlreadyExited) {
    row.mutable_summary()->append(
        " (exit code unknown: it is not the child of the agent that stopped it)");
  }
}

// `row` as a target that was not stopped, for `error`.
void Refuse(const absl::Status& error, v1::WorkerStopOutcome& row) {
  row.set_ending(v1::WorkerStopOutcome::ENDING_UNSPECIFIED);
  *row.mutable_error() = ToRpcStatus(error.code(), error.message(), error);
  row.set_summary(absl::StrCat("not stopped: ", error.message()));
}

}  // namespace

absl::Status WorkerManager::CheckStopTargets(const v1::StopWorkerRequest& request) {
  absl::StatusOr<const WorkerRecords*> records = Records();
  if (!records.ok()) return records.status();
  for (const std::string& id : request.ids()) {
    if (absl::IsNotFound((*records)->Read(id).status())) {
      return WithReason(
          WithHint(absl::NotFoundError(absl::StrCat("no worker ", id, " is recorded")),
                   "`llorch-pool worker list --all` lists the recorded workers; stop a process "
                   "no state file names with --pid"),
          reasons::kWorkerNotFound);
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::StopWorkerResult> WorkerManager::Stop(const v1::StopWorkerRequest& request,
                                                         Operation& op) {
  absl::StatusOr<const WorkerRecords*> records = Records();
  if (!records.ok()) return records.status();
  const absl::Duration grace =
      request.has_timeout() ? absl::Seconds(request.timeout().seconds()) : settings_.stop_timeout;
  // The targets in the order asked, each once: ids (or the running workers), then pids.
  std::vector<std::string> ids;
  if (request.all()) {
    for (const WorkerRecord& record : (*records)->List()) {
      if (IsLive(record)) ids.push_back(record.id);
    }
  }
  for (const std::string& id : request.ids()) {
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  std::vector<pid_t> pids;
  for (int64_t pid : request.pids()) {
    if (std::find(pids.begin(), pids.end(), pid) == pids.end()) pids.push_back(pid);
  }
  op.SetRunning();
  const size_t total = ids.size() + pids.size();
  v1::StopWorkerResult result;
  for (size_t i = 0; i < total; ++i) result.add_targets();
  std::mutex progress_mu;
  size_t done = 0;
  auto report = [&](size_t index, const v1::WorkerStopOutcome& row) {
    std::lock_guard lock(progress_mu);
    *result.mutable_targets(static_cast<int>(index)) = row;
    const std::string who = row.id().empty() ? absl::StrCat("pid ", row.pid())
                                             : absl::StrCat(row.id(), " (pid ", row.pid(), ")");
    op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat(who, ": ", row.summary()));
    v1::Progress progress;
    progress.set_phase("stop");
    progress.set_done(++done);
    progress.set_total(total);
    progress.set_current_item(row.id().empty() ? absl::StrCat(row.pid()) : row.id());
    op.ReportProgress(progress);
  };
  for (size_t first = 0; first < total; first += kParallelStops) {
    std::vector<std::thread> stops;
    for (size_t i = first; i < std::min(total, first + kParallelStops); ++i) {
      stops.emplace_back([&, i] {
        report(i,
               i < ids.size() ? StopRecorded(ids[i], grace) : StopPid(pids[i - ids.size()], grace));
      });
    }
    for (std::thread& stop : stops) stop.join();
  }
  result.set_all_stopped(std::all_of(
      result.targets().begin(), result.targets().end(), [](const v1::WorkerStopOutcome& row) {
        return row.ending() != v1::WorkerStopOutcome::ENDING_UNSPECIFIED;
      }));
  return result;
}

v1::WorkerStopOutcome WorkerManager::StopRecorded(const std::string& id, absl::Duration grace) {
  v1::WorkerStopOutcome row;
  row.set_id(id);
  row.set_group(true);
  {
    // A second stop of the same worker waits for the first, then finds it exited.
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return stopping_ids_.count(id) == 0; });
    stopping_ids_.insert(id);
  }
  absl::Cleanup done = [this, &id] {
    {
      std::lock_guard lock(mu_);
      stopping_ids_.erase(id);
    }
    changed_.notify_all();
  };
  absl::StatusOr<WorkerRecord> record = records_->Read(id);
  if (!record.ok()) {
    Refuse(record.status(), row);
    return row;
  }
  row.set_pid(record->pid);
  row.set_stop_signal(SignalName(StopSignalOf(record->backend)));
  // What the record says has ended; a record saying it runs goes to the identity check, which
  // finds out whether its process still does.
  if (record->exit_code || record->failed || record->lost || record->stopped) {
    std::lock_guard lock(mu_);
    // A restart on-failure still due is called off: the worker was asked to stay stopped.
    const bool cancelled = restarts_due_.erase(id) > 0 || record->restart_at_ms > 0;
    if (std::optional<WorkerRecord> updated = UpdateRecordLocked(id, [](WorkerRecord& r) {
          if (r.restart_at_ms == 0) return false;
          r.restart_at_ms = 0;
          r.state_reason = "its restart was called off by `worker stop`";
          return true;
        })) {
      record = *std::move(updated);
    }
    row.set_ending(v1::WorkerStopOutcome::ENDING_ALREADY_EXITED);
    row.set_exit_code(record->exit_code.value_or(-1));
    row.set_summary(record->exit_code
                        ? absl::StrCat("had already exited (exit code ", *record->exit_code, ")")
                        : "had already exited");
    if (cancelled) row.mutable_summary()->append("; its pending restart was called off");
    *row.mutable_worker() = WorkerFromRecord(*record);
    return row;
  }
  {
    std::lock_guard lock(mu_);
    UpdateRecordLocked(id, [&](WorkerRecord& r) {
      if (r.pid != record->pid) return false;
      r.stopping_at_ms = NowMs();
      return true;
    });
  }
  bool watched = false;
  absl::StatusOr<StopOutcome> outcome = StopWorkerGroup(*record, grace, &watched);
  {
    std::lock_guard lock(mu_);
    if (!outcome.ok()) {
      const bool replaced = GetReason(outcome.status()) == reasons::kProcessReplaced;
      std::optional<WorkerRecord> updated = UpdateRecordLocked(id, [&](WorkerRecord& r) {
        if (r.pid != record->pid) return false;
        r.stopping_at_ms = 0;
        if (replaced) {
          // Its process exited unseen; what has its pid now is left alone.
          r.lost = true;
          r.exited_at_ms = NowMs();
          r.state_reason = std::string(outcome.status().message());
        }
        return true;
      });
      if (updated && replaced) {
        PublishLocked(v1::WorkerChange::KIND_LOST, *updated, 0, updated->state_reason);
      }
      Refuse(outcome.status(), row);
      if (updated) *row.mutable_worker() = WorkerFromRecord(*updated);
      return row;
    }
    if (!watched) RecordUnwatchedStopLocked(*record, *outcome);
  }
  FillFromOutcome(*outcome, row);
  if (record->backend == "cuda") {
    std::vector<pid_t> pids = outcome->members;
    if (pids.empty()) pids = {static_cast<pid_t>(record->pid)};
    *row.mutable_gpu_memory() = CheckGpuRelease(std::move(pids));
    absl::StrAppend(row.mutable_summary(), "; ", row.gpu_memory().detail());
  }
  if (absl::StatusOr<WorkerRecord> now = records_->Read(id); now.ok()) {
    *row.mutable_worker() = WorkerFromRecord(*now);
  }
  return row;
}

std::optional<WorkerRecord> WorkerManager::RecordUnwatchedStopLocked(const WorkerRecord& record,
                                                                     const StopOutcome& outcome) {
  std::optional<WorkerRecord> updated = UpdateRecordLocked(record.id, [&](WorkerRecord& r) {
    if (r.pid != record.pid || r.exit_code || r.stopped || r.lost) return false;
    r.exited_at_ms = NowMs();
    r.exit_code = outcome.exit_code;
    if (outcome.ending == StopOutcome::Ending::kAlreadyExited) {
      r.lost = true;
      r.state_reason =
          absl::StrCat("its process (pid ", r.pid,
                       ") had exited when `worker stop` came, while nobody watched it");
    } else {
      r.stopped = true;
      if (!outcome.exit_code) {
        r.state_reason =
            "stopped; its exit status is unknown: it was not the child of the agent that stopped "
            "it (another CLI run or agent started it)";
      }
    }
    return true;
  });
  if (updated) {
    PublishLocked(updated->lost ? v1::WorkerChange::KIND_LOST : v1::WorkerChange::KIND_STOPPED,
                  *updated, 0, updated->lost ? updated->state_reason : "");
  }
  return updated;
}

absl::StatusOr<StopOutcome> WorkerManager::StopWorkerGroup(const WorkerRecord& record,
                                                           absl::Duration grace, bool* watched) {
  const pid_t pid = static_cast<pid_t>(record.pid);
  {
    std::lock_guard lock(mu_);
    *watched = watched_.count(pid) > 0 || exits_.count(pid) > 0;
    if (watched_.count(pid) > 0) stops_.insert(pid);
  }
  StopOptions options;
  options.stop_signal = StopSignalOf(record.backend);
  options.grace = grace;
  options.reap = false;  // the watcher reaps what it watches; anything else is not our child
  absl::StatusOr<StopOutcome> outcome = StopProcessGroup(RecordedIdentity(record), pid, options);
  std::unique_lock lock(mu_);
  if (!outcome.ok()) {
    stops_.erase(pid);
    return outcome;
  }
  if (*watched) {
    // The leader has exited (or is stuck after SIGKILL): the watcher reports it at once.
    changed_.wait_for(lock, absl::ToChronoMilliseconds(kExitReportWait),
                      [&] { return exits_.count(pid) > 0; });
    if (auto it = exits_.find(pid); it != exits_.end() && it->second >= 0) {
      outcome->exit_code = it->second;
    }
  }
  return outcome;
}

v1::WorkerStopOutcome WorkerManager::StopPid(pid_t pid, absl::Duration grace) {
  // A recorded worker's pid is that worker's stop.
  for (const WorkerRecord& record : records_->List()) {
    if (record.pid == pid && IsLive(record)) return StopRecorded(record.id, grace);
  }
  v1::WorkerStopOutcome row;
  row.set_pid(pid);
  absl::StatusOr<FoundWorkerProcess> found =
      IdentifyWorkerProcess(pid, WorkerBinaries(v1::BACKEND_UNSPECIFIED));
  if (absl::IsNotFound(found.status())) {
    found =
        WithReason(WithHint(found.status(), "`llorch-pool worker list` shows the worker processes"),
                   reasons::kNotAWorkerProcess);
  }
  if (!found.ok()) {
    Refuse(found.status(), row);
    return row;
  }
  // The backend whose program it runs gives the stop signal.
  v1::Backend backend = v1::BACKEND_CPU;
  for (const auto& [candidate, settings] : settings_.backends) {
    if (IdentifyWorkerProcess(pid, WorkerBinaries(candidate)).ok()) {
      backend = candidate;
      break;
    }
  }
  if (!found->flags.cuda_device.empty()) backend = v1::BACKEND_CUDA;
  row.set_id(found->flags.worker_id);
  const bool leader = found->pgid == pid;
  row.set_group(leader);
  StopOptions options;
  options.stop_signal = StopSignalOf(BackendName(backend));
  options.grace = grace;
  row.set_stop_signal(SignalName(options.stop_signal));
  absl::StatusOr<StopOutcome> outcome = leader ? StopProcessGroup(found->identity, pid, options)
                                               : StopProcess(found->identity, options);
  if (!outcome.ok()) {
    Refuse(outcome.status(), row);
    return row;
  }
  FillFromOutcome(*outcome, row);
  if (!leader) {
    absl::StrAppend(row.mutable_summary(), "; it is not its process group's leader (group ",
                    found->pgid, "), so it was stopped alone, not its group");
  }
  if (backend == v1::BACKEND_CUDA) {
    *row.mutable_gpu_memory() =
        CheckGpuRelease(outcome->members.empty() ? std::vector<pid_t>{pid} : outcome->members);
    absl::StrAppend(row.mutable_summary(), "; ", row.gpu_memory().detail());
  }
  return row;
}

v1::GpuMemoryRelease WorkerManager::CheckGpuRelease(std::vector<pid_t> pids) const {
  v1::GpuMemoryRelease release;
  *release.mutable_bound() =
      TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(kGpuReleaseBound));
  std::optional<std::string> nvidia_smi = FindExecutable("nvidia-smi", settings_.path_env);
  if (!nvidia_smi) {
    release.set_state(v1::GpuMemoryRelease::STATE_UNKNOWN);
    release.set_detail("GPU memory unknown: nvidia-smi is not in the agent's PATH");
    return release;
  }
  GpuMemoryCheckOptions options;
  options.nvidia_smi = *nvidia_smi;
  options.bound = kGpuReleaseBound;
  absl::StatusOr<GpuMemoryCheck> check = WaitForGpuMemoryRelease(pids, options);
  if (!check.ok()) {
    release.set_state(v1::GpuMemoryRelease::STATE_UNKNOWN);
    release.set_detail(absl::StrCat("GPU memory unknown: ", check.status().message()));
    return release;
  }
  release.set_state(check->released ? v1::GpuMemoryRelease::STATE_RELEASED
                                    : v1::GpuMemoryRelease::STATE_NOT_RELEASED);
  for (const GpuProcess& process : check->still_listed) {
    v1::GpuMemoryRelease::Holder* held = release.add_held();
    held->set_pid(process.pid);
    held->set_used_mib(process.used_mib);
  }
  release.set_detail(check->Describe());
  return release;
}

std::vector<std::string> WorkerManager::WorkerBinaries(v1::Backend backend) const {
  std::vector<std::string> binaries;
  for (const auto& [candidate, settings] : settings_.backends) {
    if (backend != v1::BACKEND_UNSPECIFIED && candidate != backend) continue;
    if (settings.argv.empty()) continue;
    const std::string& program = settings.argv.front();
    binaries.push_back(FindExecutable(program, settings_.path_env).value_or(program));
  }
  return binaries;
}

int WorkerManager::StopSignalOf(const std::string& backend) const {
  auto settings = settings_.backends.find(BackendNamed(backend));
  return settings != settings_.backends.end() && settings->second.stop_signal != 0
             ? settings->second.stop_signal
             : SIGINT;
}

std::vector<v1::Worker> WorkerManager::ListUnmanaged(
    const std::vector<const WorkerRecord*>& running) const {
  std::vector<v1::Worker> unmanaged;
  // The running workers, just identified by the caller: neither they nor the children they
  // forked into their groups are unmanaged.
  std::unordered_set<pid_t> managed;
  for (const WorkerRecord* record : running) managed.insert(static_cast<pid_t>(record->pid));
  for (const FoundWorkerProcess& process :
       ScanWorkerProcesses(WorkerBinaries(v1::BACKEND_UNSPECIFIED), managed)) {
    v1::Worker worker;
    worker.set_id(process.flags.worker_id);
    worker.set_state(v1::WORKER_STATE_UNMANAGED);
    worker.set_pid(process.identity.pid);
    worker.set_port(static_cast<uint32_t>(process.flags.port));
    worker.set_model_path(process.flags.model);
    worker.set_exit_code(-1);
    v1::Backend backend = v1::BACKEND_CPU;
    for (const auto& [candidate, settings] : settings_.backends) {
      if (IdentifyWorkerProcess(process.identity.pid, WorkerBinaries(candidate)).ok()) {
        backend = candidate;
        break;
      }
    }
    const std::string& device =
        !process.flags.cuda_device.empty() ? process.flags.cuda_device : process.flags.metal_device;
    if (!process.flags.cuda_device.empty()) backend = v1::BACKEND_CUDA;
    if (!process.flags.metal_device.empty()) backend = v1::BACKEND_METAL;
    worker.set_backend(backend);
    uint32_t gpu = 0;
    if (absl::SimpleAtoi(device, &gpu)) worker.set_gpu(gpu);
    for (const std::string& arg : process.argv) worker.add_argv(arg);
    if (std::optional<absl::Time> started = ProcessStartedAt(process.identity.start_time)) {
      *worker.mutable_started_at() =
          TimeUtil::MillisecondsToTimestamp(absl::ToUnixMillis(*started));
      *worker.mutable_uptime() = TimeUtil::MillisecondsToDuration(
          std::max<int64_t>(0, absl::ToInt64Milliseconds(absl::Now() - *started)));
    }
    unmanaged.push_back(std::move(worker));
  }
  return unmanaged;
}

}  // namespace llorch
