#include "agent/workers/worker_manager.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "agent/models/store/model_store.h"
#include "agent/workers/log_rotation.h"
#include "agent/workers/worker_launch.h"
#include "agent/workers/worker_ports.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "google/protobuf/util/time_util.h"
#include "spdlog/spdlog.h"

namespace llorch {
namespace v1 = pool::v1;
using google::protobuf::util::TimeUtil;
namespace {

constexpr size_t kLogTailLines = 20;
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);
constexpr absl::Duration kHealthInterval = absl::Milliseconds(200);
constexpr absl::Duration kStopGrace = absl::Seconds(5);

int64_t NowMs() { return absl::ToUnixMillis(absl::Now()); }

// "\nlast log lines:\n  ..." for an error message; "" when the log is empty.
std::string LogTail(const DirFd& logs, const std::string& id) {
  std::vector<std::string> lines = LastLines(logs, WorkerLogName(id), kLogTailLines);
  if (lines.empty()) return " (its log is empty)";
  return absl::StrCat("; last log lines:\n  ", absl::StrJoin(lines, "\n  "));
}

v1::RestartPolicy RestartPolicyOf(const WorkerRecord& record) {
  return record.restart_policy == "on-failure" ? v1::RESTART_POLICY_ON_FAILURE
                                               : v1::RESTART_POLICY_NO;
}

// New complete lines of a worker's log since `*offset`, which moves past them.
std::vector<std::string> NewLogLines(const DirFd& logs, const std::string& id, off_t* offset) {
  absl::StatusOr<UniqueFd> fd = logs.OpenRegularFile(WorkerLogName(id));
  if (!fd.ok()) return {};
  std::string buffer(64 << 10, '\0');
  const ssize_t n = pread(fd->get(), buffer.data(), buffer.size(), *offset);
  if (n <= 0) return {};
  buffer.resize(static_cast<size_t>(n));
  const size_t end = buffer.rfind('\n');
  if (end == std::string::npos) return {};
  *offset += static_cast<off_t>(end + 1);
  return absl::StrSplit(absl::string_view(buffer).substr(0, end), '\n');
}

}  // namespace

v1::Worker WorkerFromRecord(const WorkerRecord& record) {
  v1::Worker worker;
  worker.set_id(record.id);
  worker.set_backend(BackendNamed(record.backend));
  worker.set_model_id(record.model_id);
  worker.set_model_path(record.model_path);
  worker.set_gpu(record.gpu);
  worker.set_port(record.port);
  worker.set_vram_bytes(record.vram_bytes);
  worker.set_uri(record.uri.empty() ? absl::StrCat("http://localhost:", record.port) : record.uri);
  for (const std::string& arg : record.argv) worker.add_argv(arg);
  worker.set_log_path(record.log_path);
  *worker.mutable_started_at() = TimeUtil::MillisecondsToTimestamp(record.created_at_ms);
  worker.set_exit_code(record.exit_code.value_or(-1));
  if (record.exited_at_ms > 0) {
    *worker.mutable_exited_at() = TimeUtil::MillisecondsToTimestamp(record.exited_at_ms);
  }
  worker.set_restart_policy(RestartPolicyOf(record));
  worker.set_restarts(record.restarts);
  worker.set_state_reason(record.state_reason);
  if (record.lost) {
    worker.set_state(v1::WORKER_STATE_LOST);
  } else if (record.stopped && !record.failed) {
    worker.set_state(v1::WORKER_STATE_EXITED);
  } else if (record.exit_code || record.failed) {
    worker.set_state(v1::WORKER_STATE_FAILED);
    worker.set_restart_pending(record.restart_at_ms > 0);
  } else if (IsRecordedProcessAlive(record)) {
    worker.set_state(record.stopping_at_ms > 0 ? v1::WORKER_STATE_STOPPING
                     : record.ready_at_ms > 0  ? v1::WORKER_STATE_READY
                                               : v1::WORKER_STATE_STARTING);
    worker.set_pid(record.pid);
    *worker.mutable_uptime() =
        TimeUtil::MillisecondsToDuration(std::max<int64_t>(0, NowMs() - record.created_at_ms));
  } else {
    worker.set_state(v1::WORKER_STATE_LOST);
  }
  return worker;
}

WorkerManager::WorkerManager(WorkerSettings settings, std::shared_ptr<const Catalog> catalog,
                             std::filesystem::path models_dir, std::shared_ptr<EventBus> events)
    : settings_(std::move(settings)),
      catalog_(std::move(catalog)),
      models_dir_(std::move(models_dir)),
      events_(std::move(events)),
      rotator_(std::make_unique<LogRotator>(settings_.state_dir, settings_.log_max_bytes,
                                            settings_.log_max_files)) {
  absl::StatusOr<std::unique_ptr<ExitWatcher>> watcher = ExitWatcher::Start(
      [this](pid_t pid, std::optional<int> exit_code) { OnExit(pid, exit_code); });
  if (watcher.ok()) {
    watcher_ = *std::move(watcher);
  } else {
    spdlog::error("worker exits cannot be watched: {}", std::string(watcher.status().message()));
  }
  if (!settings_.in_process) Adopt();
  supervisor_ = std::thread([this] { SuperviseLoop(); });
}

WorkerManager::~WorkerManager() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  supervisor_.join();
  watcher_.reset();
  listener_.reset();
}

absl::Status WorkerManager::CheckGpu(uint32_t gpu) const {
  return CheckGpuExists(settings_.gpus->Read(), gpu);
}

absl::StatusOr<const WorkerRecords*> WorkerManager::Records() {
  std::lock_guard lock(mu_);
  if (!records_) {
    absl::StatusOr<WorkerRecords> opened = WorkerRecords::Open(settings_.state_dir);
    if (!opened.ok()) {
      return WithPrefix(opened.status(), "cannot keep worker state in the state directory");
    }
    records_.emplace(*std::move(opened));
  }
  return &*records_;
}

absl::StatusOr<std::vector<WorkerRecord>> WorkerManager::LiveRecords() {
  absl::StatusOr<const WorkerRecords*> records = Records();
  if (!records.ok()) return records.status();
  std::vector<WorkerRecord> live;
  for (WorkerRecord& record : (*records)->List()) {
    if (IsLive(record)) live.push_back(std::move(record));
  }
  return live;
}

absl::StatusOr<WorkerManager::SpawnPlan> WorkerManager::Plan(
    const v1::SpawnWorkerRequest& request) {
  SpawnPlan plan;
  plan.backend = request.backend();
  plan.wait_ready = request.wait_ready();
  plan.ready_timeout = request.has_ready_timeout()
                           ? absl::Seconds(request.ready_timeout().seconds())
                           : settings_.ready_timeout;
  plan.gpu = request.backend() == v1::BACKEND_CPU ? 0 : request.gpu();
  const std::string backend = BackendName(plan.backend);
  const BackendSettings& backend_settings = settings_.backends.at(plan.backend);
#ifndef __APPLE__
  if (plan.backend == v1::BACKEND_METAL) {
    return WithReason(WithHint(absl::FailedPreconditionError(
                                   "the metal backend runs only on macOS; this host is not one"),
                               "use the cuda backend for NVIDIA GPUs or cpu"),
                      reasons::kBackendUnsupported);
  }
#endif
  if (settings_.in_process && !plan.wait_ready && !backend_settings.ready_by_health) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(
                     "without an agent running, nobody would answer the worker's ready callback "
                     "once this command exits, and the worker would stop"),
                 "wait for it (leave out --no-wait), or start pool-agent and spawn through it"),
        reasons::kCallbackUnavailable);
  }
  plan.restart_on_failure = request.restart() == v1::RESTART_POLICY_ON_FAILURE;
  if (settings_.in_process && plan.restart_on_failure) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(
                     "--restart on-failure needs a supervisor that outlives this command: "
                     "without an agent running, nobody would restart the worker once it exits"),
                 "start pool-agent (it supervises and restarts workers) and spawn through it, "
                 "or leave out --restart"),
        reasons::kRestartUnavailable);
  }
  const std::string& program = backend_settings.argv.front();
  std::optional<std::string> resolved = FindExecutable(program, settings_.path_env);
  if (!resolved) {
    return WithMetadata(
        WithReason(
            WithHint(absl::FailedPreconditionError(absl::StrCat(
                         "the ", backend, " worker program '", program, "' is not ",
                         program.find('/') == std::string::npos ? "in the agent's PATH"
                                                                : "an executable file")),
                     absl::StrCat("install it (llorch-candled's ", backend,
                                  " build), or set workers.", backend, ".argv to where it is")),
            reasons::kWorkerBinaryMissing),
        metadata::kPath, program);
  }
  plan.program = *resolved;
  if (plan.backend == v1::BACKEND_CUDA) {
    if (absl::Status gpu = CheckGpu(plan.gpu); !gpu.ok()) return gpu;
  }

  plan.model_id = request.model_id().empty() ? settings_.default_model : request.model_id();
  if (plan.model_id.empty()) {
    return WithReason(
        WithHint(absl::InvalidArgumentError("no model given, and workers.default_model is unset"),
                 "pass --model ID (`llorch-pool models list` shows the downloaded ones)"),
        reasons::kInvalidRequest);
  }
  absl::StatusOr<const CatalogModel*> model = catalog_->Lookup(plan.model_id);
  if (!model.ok()) return model.status();
  const LocalModel local = ModelStore(models_dir_).Inspect(**model);
  plan.model_path = local.path.string();
  switch (local.state) {
    case LocalState::kDownloaded:
      break;
    case LocalState::kRefused:
      return local.refused;
    case LocalState::kUnverified:
      return WithMetadata(
          WithReason(WithHint(absl::FailedPreconditionError(absl::StrCat(
                                  "model ", plan.model_id, " is on disk (", plan.model_path,
                                  ") but not verified: nothing vouches for its bytes")),
                              absl::StrCat("run `llorch-pool models verify ", plan.model_id, "`")),
                     reasons::kModelUnverified),
          metadata::kModel, plan.model_id);
    default:
      return WithMetadata(WithReason(WithHint(absl::FailedPreconditionError(absl::StrCat(
                                                  "model ", plan.model_id, " is not downloaded")),
                                              absl::StrCat("run `llorch-pool models download ",
                                                           plan.model_id, "` first")),
                                     reasons::kModelNotDownloaded),
                          metadata::kModel, plan.model_id);
  }

  plan.id = request.worker_id().empty() ? absl::StrCat("worker-", backend, "-", plan.gpu)
                                        : request.worker_id();
  absl::StatusOr<std::vector<WorkerRecord>> live = LiveRecords();
  if (!live.ok()) return live.status();
  std::set<int> taken;
  for (const WorkerRecord& record : *live) {
    if (record.id == plan.id) {
      return WithReason(
          WithHint(absl::AlreadyExistsError(absl::StrCat("worker ", plan.id, " is running (pid ",
                                                         record.pid, ", port ", record.port, ")")),
                   "stop it first, or give the new worker another id with --id"),
          reasons::kWorkerExists);
    }
    taken.insert(static_cast<int>(record.port));
  }
  absl::StatusOr<const WorkerRecords*> records = Records();
  if (!records.ok()) return records.status();
  // Held (worker_ports.h), then checked against the records again: a spawn that has let go of
  // the port wrote its state file first.
  auto hold = [&](int port) -> absl::StatusOr<bool> {
    absl::StatusOr<std::optional<UniqueFd>> lock = TryHoldPort((*records)->ports(), port);
    if (!lock.ok()) return lock.status();
    if (!lock->has_value()) return false;
    absl::StatusOr<std::vector<WorkerRecord>> now = LiveRecords();
    if (!now.ok()) return now.status();
    for (const WorkerRecord& record : *now) {
      if (static_cast<int>(record.port) == port) return false;
    }
    plan.port = port;
    plan.port_hold = std::make_shared<UniqueFd>(std::move(**lock));
    return true;
  };
  if (request.port() != 0) {
    const int port = static_cast<int>(request.port());
    absl::StatusOr<bool> held =
        taken.count(port) > 0 || !PortIsFree(port) ? absl::StatusOr<bool>(false) : hold(port);
    if (!held.ok()) return held.status();
    if (!*held) {
      return WithReason(
          WithHint(absl::AlreadyExistsError(absl::StrCat("port ", port, " is in use")),
                   "choose another --port, or leave it out to take the first free one"),
          reasons::kPortInUse);
    }
  } else {
    while (plan.port_hold == nullptr) {
      std::optional<int> port = FirstFreePort(settings_.port_first, settings_.port_last, taken);
      if (!port) {
        return WithReason(
            WithHint(absl::ResourceExhaustedError(absl::StrCat(
                         "no free port in ", settings_.port_first, "-", settings_.port_last,
                         " outside the kernel's ephemeral range")),
                     "stop a worker, pass --port, or widen workers.port_first/port_last"),
            reasons::kNoFreePort);
      }
      absl::StatusOr<bool> held = hold(*port);
      if (!held.ok()) return held.status();
      taken.insert(*port);
    }
  }
  return plan;
}

std::optional<int> WorkerManager::CallbackListenerPort() {
  std::lock_guard lock(mu_);
  if (!listener_) return std::nullopt;
  return listener_->port();
}

absl::StatusOr<std::string> WorkerManager::CallbackUrl() {
  std::lock_guard lock(mu_);
  if (!listener_) {
    absl::StatusOr<std::unique_ptr<ReadyListener>> listener = ReadyListener::Start(
        settings_.callback_port, [this](const ReadyReport& report) { OnReady(report); });
    if (!listener.ok()) {
      return WithReason(absl::FailedPreconditionError(listener.status().message()),
                        reasons::kCallbackUnavailable);
    }
    listener_ = *std::move(listener);
  }
  return listener_->CallbackUrl();
}

void WorkerManager::OnReady(const ReadyReport& report) {
  {
    std::lock_guard lock(mu_);
    ready_[report.worker_id] = report;
    std::optional<WorkerRecord> ready =
        UpdateRecordLocked(report.worker_id, [&](WorkerRecord& record) {
          if (record.ready_at_ms != 0 || record.exit_code || record.failed || record.lost) {
            return false;
          }
          record.ready_at_ms = NowMs();
          // From now on its identity includes the program it became (RecordedIdentity()).
          const absl::StatusOr<ProcessIdentity> now =
              ReadProcessIdentity(static_cast<pid_t>(record.pid));
          if (now.ok() && now->start_time == record.start_time) {
            record.executable = now->executable;
          }
          record.uri = report.uri;
          record.vram_bytes = report.vram_bytes;
          return true;
        });
    if (ready) PublishLocked(v1::WorkerChange::KIND_READY, *ready);
  }
  changed_.notify_all();
}

void WorkerManager::PublishLocked(v1::WorkerChange::Kind kind, const WorkerRecord& record,
                                  uint32_t attempt, const std::string& reason) {
  v1::WorkerChange change;
  change.set_kind(kind);
  *change.mutable_worker() = WorkerFromRecord(record);
  change.set_attempt(attempt);
  change.set_reason(reason);
  PublishLocked(std::move(change));
}

void WorkerManager::PublishLocked(v1::WorkerChange change) {
  if (!events_) return;
  v1::AgentEvent event;
  *event.mutable_worker() = std::move(change);
  events_->Publish(std::move(event));
}

void WorkerManager::WatchLocked(pid_t pid, const std::string& id, bool child) {
  absl::StatusOr<Pidfd> pidfd = Pidfd::Open(pid);
  if (!watcher_ || !pidfd.ok()) {
    spdlog::warn("cannot watch worker {} (pid {}) for its exit", id, pid);
    return;
  }
  watched_[pid] = id;
  exits_.erase(pid);  // a pid seen exiting before belonged to another process
  if (absl::Status watched = watcher_->Watch(*std::move(pidfd), child); !watched.ok()) {
    watched_.erase(pid);
    spdlog::warn("cannot watch worker {}: {}", id, std::string(watched.message()));
  }
}

void WorkerManager::OnExit(pid_t pid, std::optional<int> exit_code) {
  {
    std::lock_guard lock(mu_);
    auto it = watched_.find(pid);
    if (it == watched_.end()) return;
    const std::string id = it->second;
    watched_.erase(it);
    exits_[pid] = exit_code.value_or(-1);
    const bool asked = stops_.erase(pid) > 0;
    const bool spawning = spawning_.count(id) > 0;
    const bool restart = !asked && !spawning && exit_code != 0;
    std::optional<v1::WorkerChange> restart_change;
    std::optional<WorkerRecord> exited = UpdateRecordLocked(id, [&](WorkerRecord& record) {
      if (record.pid != pid) return false;
      record.exit_code = exit_code;
      record.exited_at_ms = NowMs();
      // A worker a waiting spawn stopped (not ready in time, cancelled) failed its spawn.
      record.stopped = asked && !spawning;
      if (!exit_code && record.stopped) {
        record.state_reason =
            "stopped; its exit status is unknown: the agent adopted it from an earlier run, so it "
            "is not the agent's child";
      } else if (!exit_code) {
        record.failed = true;
        record.state_reason =
            "it exited with its exit status unknown: the agent adopted it from an earlier run, "
            "so it is not the agent's child";
      }
      if (restart && record.restart_policy == "on-failure") restart_change = PlanRestart(record);
      return true;
    });
    if (exited) {
      WorkerRecord before_restart = *exited;
      before_restart.restart_at_ms = 0;
      PublishLocked(asked ? v1::WorkerChange::KIND_STOPPED : v1::WorkerChange::KIND_EXITED,
                    before_restart);
      if (restart_change) {
        if (restart_change->kind() == v1::WorkerChange::KIND_RESTARTING) {
          restarts_due_[id] = absl::FromUnixMillis(exited->restart_at_ms);
        }
        *restart_change->mutable_worker() = WorkerFromRecord(*exited);
        PublishLocked(*std::move(restart_change));
      }
    }
  }
  changed_.notify_all();
}

v1::WorkerChange WorkerManager::PlanRestart(WorkerRecord& record) const {
  v1::WorkerChange change;
  const int64_t now = NowMs();
  const int64_t window_start = now - absl::ToInt64Milliseconds(settings_.start_limit_interval);
  std::erase_if(record.starts_ms, [window_start](int64_t at) { return at < window_start; });
  if (static_cast<int>(record.starts_ms.size()) >= settings_.start_limit_burst) {
    record.failed = true;
    record.state_reason = absl::StrCat(
        "gave up restarting it: it was started ", record.starts_ms.size(), " times within ",
        absl::FormatDuration(settings_.start_limit_interval),
        " (workers.start_limit_burst, start_limit_interval_seconds); spawn it again to start "
        "it anew");
    change.set_kind(v1::WorkerChange::KIND_GAVE_UP);
    change.set_reason(record.state_reason);
    return change;
  }
  // A run longer than the longest delay was a success for a while: the doubling starts over.
  if (now - record.created_at_ms > absl::ToInt64Milliseconds(settings_.restart_backoff_max)) {
    record.restart_streak = 0;
  }
  absl::Duration delay = settings_.restart_backoff_initial;
  for (uint32_t i = 0; i < record.restart_streak && delay < settings_.restart_backoff_max; ++i) {
    delay *= 2;
  }
  delay = std::min(delay, settings_.restart_backoff_max);
  ++record.restart_streak;
  record.restart_at_ms = now + absl::ToInt64Milliseconds(delay);
  change.set_kind(v1::WorkerChange::KIND_RESTARTING);
  change.set_attempt(record.restarts + 1);
  *change.mutable_restart_delay() =
      TimeUtil::MillisecondsToDuration(absl::ToInt64Milliseconds(delay));
  return change;
}

void WorkerManager::SuperviseLoop() {
  std::unique_lock lock(mu_);
  absl::Time next_probe = absl::InfinitePast();
  while (!stopping_) {
    const absl::Time now = absl::Now();
    if (!probing_.empty() && now >= next_probe) {
      next_probe = now + kHealthInterval;
      lock.unlock();
      ProbeStarting();
      lock.lock();
      continue;
    }
    auto next = std::min_element(restarts_due_.begin(), restarts_due_.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    if (next != restarts_due_.end() && next->second <= now) {
      const std::string id = next->first;
      restarts_due_.erase(next);
      lock.unlock();
      Restart(id);
      lock.lock();
      continue;
    }
    absl::Time wake = next == restarts_due_.end() ? absl::InfiniteFuture() : next->second;
    if (!probing_.empty()) wake = std::min(wake, next_probe);
    if (wake == absl::InfiniteFuture()) {
      changed_.wait(lock);
    } else {
      changed_.wait_for(lock, absl::ToChronoMilliseconds(wake - now + absl::Milliseconds(1)));
    }
  }
}

void WorkerManager::ProbeStarting() {
  std::vector<std::pair<std::string, uint32_t>> starting;  // id, port
  {
    std::lock_guard lock(mu_);
    for (auto it = probing_.begin(); it != probing_.end();) {
      absl::StatusOr<WorkerRecord> record =
          records_ ? records_->Read(*it) : absl::NotFoundError(*it);
      if (!record.ok() || !IsLive(*record) || record->ready_at_ms != 0) {
        it = probing_.erase(it);
        continue;
      }
      starting.emplace_back(*it, record->port);
      ++it;
    }
  }
  for (const auto& [id, port] : starting) {
    if (std::optional<uint64_t> vram = ProbeHealth(static_cast<int>(port))) {
      OnReady(ReadyReport{id, absl::StrCat("http://localhost:", port), *vram});
    }
  }
}

bool WorkerManager::ReadyByHealth(const WorkerRecord& record) const {
  auto backend = settings_.backends.find(BackendNamed(record.backend));
  return backend != settings_.backends.end() && backend->second.ready_by_health;
}

void WorkerManager::Restart(const std::string& id) {
  const absl::StatusOr<const WorkerRecords*> records = Records();
  if (!records.ok()) return;
  // A worker adopted from an earlier run calls back to this agent's listener.
  (void)CallbackUrl();
  std::lock_guard lock(mu_);
  absl::StatusOr<WorkerRecord> record = (*records)->Read(id);
  if (stopping_ || !record.ok() || record->restart_at_ms == 0) return;  // replaced or stopped
  record->restart_at_ms = 0;
  absl::StatusOr<UniqueFd> log =
      (*records)->logs().OpenFile(WorkerLogName(id), O_WRONLY | O_CREAT | O_APPEND, 0644);
  absl::StatusOr<pid_t> pid =
      log.ok() ? LaunchWorkerProcess(record->argv, log->get()) : log.status();
  if (!pid.ok()) {
    record->state_reason = absl::StrCat("gave up restarting it: ", pid.status().message());
    (void)(*records)->Write(*record);
    PublishLocked(v1::WorkerChange::KIND_GAVE_UP, *record, 0, record->state_reason);
    return;
  }
  const absl::StatusOr<ProcessIdentity> identity = ReadProcessIdentity(*pid);
  record->pid = *pid;
  record->start_time = identity.ok() ? identity->start_time : 0;
  if (identity.ok()) record->executable = identity->executable;
  record->created_at_ms = NowMs();
  record->ready_at_ms = 0;
  record->exit_code.reset();
  record->exited_at_ms = 0;
  record->failed = false;
  record->stopped = false;
  record->stopping_at_ms = 0;
  record->state_reason.clear();
  ++record->restarts;
  record->starts_ms.push_back(record->created_at_ms);
  ready_.erase(id);
  if (absl::Status written = (*records)->Write(*record); !written.ok()) {
    kill(-*pid, SIGKILL);
    spdlog::error("cannot restart worker {}: its state file: {}", id,
                  std::string(written.message()));
    return;
  }
  WatchLocked(*pid, id, /*child=*/true);
  if (ReadyByHealth(*record)) probing_.insert(id);
  PublishLocked(v1::WorkerChange::KIND_STARTED, *record, record->restarts);
}

void WorkerManager::Adopt() {
  absl::StatusOr<const WorkerRecords*> records = Records();
  if (!records.ok()) {
    spdlog::error("cannot adopt workers: {}", std::string(records.status().message()));
    return;
  }
  bool callbacks = false;
  {
    std::lock_guard lock(mu_);
    for (WorkerRecord& record : (*records)->List()) {
      if (record.lost) continue;
      if (record.exit_code || record.failed) {
        // It exited while a restart was due: the restart is this agent's to do.
        if (record.restart_at_ms > 0) {
          restarts_due_[record.id] = absl::FromUnixMillis(record.restart_at_ms);
        }
        continue;
      }
      absl::StatusOr<Pidfd> pidfd = OpenIdentified(RecordedIdentity(record));
      if (pidfd.ok()) {
        watched_[static_cast<pid_t>(record.pid)] = record.id;
        if (!watcher_ || !watcher_->Watch(*std::move(pidfd), /*child=*/false).ok()) {
          watched_.erase(static_cast<pid_t>(record.pid));
        }
        if (record.ready_at_ms == 0) {
          if (ReadyByHealth(record)) {
            probing_.insert(record.id);
          } else {
            callbacks = true;
          }
        }
        PublishLocked(v1::WorkerChange::KIND_ADOPTED, record);
        continue;
      }
      if (!absl::IsNotFound(pidfd.status()) && !absl::IsFailedPrecondition(pidfd.status())) {
        spdlog::warn("cannot adopt worker {}: {}", record.id,
                     std::string(pidfd.status().message()));
        continue;
      }
      record.lost = true;
      record.exited_at_ms = NowMs();
      record.state_reason =
          absl::IsNotFound(pidfd.status())
              ? absl::StrCat("its process (pid ", record.pid,
                             ") was gone when the agent started: it exited while no agent "
                             "watched it")
              : absl::StrCat(pidfd.status().message());
      (void)(*records)->Write(record);
      PublishLocked(v1::WorkerChange::KIND_LOST, record, 0, record.state_reason);
    }
  }
  // An adopted worker still loading calls back to this agent's listener.
  if (callbacks) (void)CallbackUrl();
}

std::optional<WorkerRecord> WorkerManager::UpdateRecordLocked(
    const std::string& id, const std::function<bool(WorkerRecord&)>& change) {
  if (!records_) return std::nullopt;
  absl::StatusOr<WorkerRecord> record = records_->Read(id);
  if (!record.ok() || !change(*record)) return std::nullopt;
  // Best effort: when the write fails the file stays as it was.
  if (!records_->Write(*record).ok()) return std::nullopt;
  return *std::move(record);
}

absl::StatusOr<v1::SpawnWorkerResult> WorkerManager::Spawn(const SpawnPlan& plan, Operation& op) {
  absl::StatusOr<const WorkerRecords*> opened = Records();
  if (!opened.ok()) return opened.status();
  const WorkerRecords& records = **opened;
  const BackendSettings& backend = settings_.backends.at(plan.backend);
  std::string callback_url;
  if (!backend.ready_by_health) {
    absl::StatusOr<std::string> url = CallbackUrl();
    if (!url.ok()) return url.status();
    callback_url = *url;
  }
  op.SetRunning();
  // The previous worker's log (a crash's, say) survives as <id>.log.1.
  if (absl::Status rotated = RotateLogForRespawn(records.logs(), plan.id, settings_.log_max_files);
      !rotated.ok()) {
    return WithPrefix(rotated, "cannot keep the previous log of the worker");
  }
  // O_APPEND: after a rotation truncated the log, the worker's next write lands at its new end.
  absl::StatusOr<UniqueFd> log = records.logs().OpenFile(
      WorkerLogName(plan.id), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (!log.ok()) return WithPrefix(log.status(), "cannot create the worker's log file");

  std::vector<std::string> argv = ExpandArgv(backend.argv, {{"worker_id", plan.id},
                                                            {"model_path", plan.model_path},
                                                            {"gpu", absl::StrCat(plan.gpu)},
                                                            {"port", absl::StrCat(plan.port)},
                                                            {"callback_url", callback_url}});
  argv.front() = plan.program;

  WorkerRecord record;
  {
    // Held until the record is written: a ready report that comes at once finds it.
    std::lock_guard lock(mu_);
    ready_.erase(plan.id);
    restarts_due_.erase(plan.id);  // a restart of the worker this one replaces
    absl::StatusOr<pid_t> pid = LaunchWorkerProcess(argv, log->get());
    if (!pid.ok()) return pid.status();
    if (plan.wait_ready) {
      spawning_.insert(plan.id);
    } else if (backend.ready_by_health) {
      probing_.insert(plan.id);
    }
    // posix_spawn returns after the exec; the program may exec again (an interpreter, a wrapper),
    // so the executable is read again at its ready report.
    const absl::StatusOr<ProcessIdentity> identity = ReadProcessIdentity(*pid);
    record.id = plan.id;
    record.backend = BackendName(plan.backend);
    record.model_id = plan.model_id;
    record.model_path = plan.model_path;
    record.gpu = plan.gpu;
    record.port = static_cast<uint32_t>(plan.port);
    record.pid = *pid;
    record.start_time = identity.ok() ? identity->start_time : 0;
    record.executable = identity.ok() ? identity->executable : plan.program;
    record.argv = argv;
    record.log_path = records.logs().PathOf(WorkerLogName(plan.id)).string();
    record.created_at_ms = NowMs();
    record.restart_policy = plan.restart_on_failure ? "on-failure" : "no";
    record.starts_ms = {record.created_at_ms};
    WatchLocked(*pid, plan.id, /*child=*/true);
    if (absl::Status written = records.Write(record); !written.ok()) {
      spawning_.erase(plan.id);
      stops_.insert(*pid);
      kill(-*pid, SIGKILL);
      return WithPrefix(written, "cannot write the worker's state file; the worker was killed");
    }
    PublishLocked(v1::WorkerChange::KIND_STARTED, record);
  }
  changed_.notify_all();  // the supervisor may have a worker to probe now
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrCat("started ", plan.id, ": pid ", record.pid,
                                                 ", port ", plan.port, ", log ", record.log_path));
  if (!plan.wait_ready) {
    v1::SpawnWorkerResult result;
    *result.mutable_worker() = WorkerFromRecord(record);
    return result;
  }
  absl::StatusOr<v1::SpawnWorkerResult> result =
      WaitReady(plan, static_cast<pid_t>(record.pid), records, op);
  {
    // From now on an exit is the supervisor's (restart policy), not the spawn's.
    std::lock_guard lock(mu_);
    spawning_.erase(plan.id);
  }
  return result;
}

absl::StatusOr<v1::SpawnWorkerResult> WorkerManager::WaitReady(const SpawnPlan& plan, pid_t pid,
                                                               const WorkerRecords& records,
                                                               Operation& op) {
  const BackendSettings& backend = settings_.backends.at(plan.backend);
  const absl::Time start = absl::Now();
  const absl::Time deadline = start + plan.ready_timeout;
  absl::Time next_probe = start;
  off_t log_offset = 0;
  auto fail = [&](absl::Status status) {
    std::lock_guard lock(mu_);
    UpdateRecordLocked(plan.id, [](WorkerRecord& record) {
      record.failed = true;
      return true;
    });
    return status;
  };
  while (true) {
    for (const std::string& line : NewLogLines(records.logs(), plan.id, &log_offset)) {
      op.Log(v1::LogLine::STREAM_STDOUT, line);
    }
    v1::Progress progress;
    progress.set_phase("wait-ready");
    progress.set_done(static_cast<uint64_t>(absl::ToInt64Seconds(absl::Now() - start)));
    progress.set_total(static_cast<uint64_t>(absl::ToInt64Seconds(plan.ready_timeout)));
    progress.set_current_item(plan.id);
    op.ReportProgress(progress);

    if (backend.ready_by_health && absl::Now() >= next_probe) {
      next_probe = absl::Now() + kHealthInterval;
      if (std::optional<uint64_t> vram = ProbeHealth(plan.port)) {
        OnReady(ReadyReport{plan.id, absl::StrCat("http://localhost:", plan.port), *vram});
      }
    }
    std::optional<int> exit_code;
    {
      std::unique_lock lock(mu_);
      if (ready_.count(plan.id) > 0) break;
      if (auto it = exits_.find(pid); it != exits_.end()) exit_code = it->second;
      if (!exit_code && absl::Now() < deadline && !op.cancel_requested()) {
        changed_.wait_for(lock, absl::ToChronoMilliseconds(kPollInterval));
        continue;
      }
    }
    if (exit_code) {
      return fail(WithReason(
          WithHint(absl::AbortedError(absl::StrCat("worker ", plan.id, " exited with code ",
                                                   *exit_code, " before it was ready",
                                                   LogTail(records.logs(), plan.id))),
                   absl::StrCat("its whole log: ",
                                records.logs().PathOf(WorkerLogName(plan.id)).string())),
          reasons::kWorkerExited));
    }
    absl::StatusOr<WorkerRecord> started = records.Read(plan.id);
    bool watched = false;
    if (!started.ok() || started->pid != pid) {
      std::lock_guard lock(mu_);
      stops_.insert(pid);
      kill(-pid, SIGKILL);  // our child, not yet reaped: the pid is still its
    } else {
      (void)StopWorkerGroup(*started, kStopGrace, &watched);
    }
    if (op.cancel_requested()) {
      return fail(absl::CancelledError(
          absl::StrCat("the spawn of ", plan.id, " was cancelled; the worker was stopped")));
    }
    return fail(WithReason(WithHint(absl::DeadlineExceededError(absl::StrCat(
                                        "worker ", plan.id, " was not ready after ",
                                        absl::FormatDuration(plan.ready_timeout),
                                        "; it was stopped", LogTail(records.logs(), plan.id))),
                                    "a big model may need longer: pass --timeout, or raise "
                                    "workers.ready_timeout_seconds"),
                           reasons::kWorkerNotReady));
  }
  for (const std::string& line : NewLogLines(records.logs(), plan.id, &log_offset)) {
    op.Log(v1::LogLine::STREAM_STDOUT, line);
  }
  absl::StatusOr<WorkerRecord> record = records.Read(plan.id);
  if (!record.ok()) return record.status();
  v1::SpawnWorkerResult result;
  *result.mutable_worker() = WorkerFromRecord(*record);
  *result.mutable_time_to_ready() = TimeUtil::MillisecondsToDuration(
      std::max<int64_t>(0, record->ready_at_ms - record->created_at_ms));
  return result;
}

absl::StatusOr<std::vector<v1::Worker>> WorkerManager::List(bool include_exited) {
  absl::StatusOr<const WorkerRecords*> records = Records();
  if (!records.ok()) return records.status();
  std::vector<v1::Worker> workers;
  const std::vector<WorkerRecord> recorded = (*records)->List();
  // The records whose process runs (IsLive), judged once: WorkerFromRecord reads /proc for it.
  std::vector<const WorkerRecord*> running;
  for (const WorkerRecord& record : recorded) {
    v1::Worker worker = WorkerFromRecord(record);
    const bool is_running = worker.state() == v1::WORKER_STATE_STARTING ||
                            worker.state() == v1::WORKER_STATE_READY ||
                            worker.state() == v1::WORKER_STATE_STOPPING;
    if (is_running) running.push_back(&record);
    if (is_running || include_exited) workers.push_back(std::move(worker));
  }
  for (v1::Worker& worker : ListUnmanaged(running)) workers.push_back(std::move(worker));
  return workers;
}

absl::Status WorkerManager::CheckModelUnused(const CatalogModel& model) {
  const std::string path = ModelStore(models_dir_).ModelPath(model).string();
  absl::StatusOr<std::vector<WorkerRecord>> live = LiveRecords();
  if (!live.ok()) return live.status();
  std::vector<std::string> users;
  std::string first;
  for (const WorkerRecord& record : *live) {
    if (record.model_path != path && record.model_id != model.id) continue;
    users.push_back(absl::StrCat(record.id, " (pid ", record.pid, ")"));
    if (first.empty()) first = record.id;
  }
  if (users.empty()) return absl::OkStatus();
  return WithMetadata(
      WithReason(
          WithHint(absl::FailedPreconditionError(absl::StrCat(
                       "model ", model.id, " is in use by worker", users.size() > 1 ? "s" : "", " ",
                       absl::StrJoin(users, ", "), "; nothing was deleted")),
                   absl::StrCat("stop ", users.size() > 1 ? "them" : "it",
                                " first: `llorch-pool worker stop ", first, "`")),
          reasons::kModelInUse),
      metadata::kModel, model.id);
}

}  // namespace llorch
