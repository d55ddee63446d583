#include "agent/ops/operation_registry.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <list>
#include <mutex>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <unordered_set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/ops/cancel_cause.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "spdlog/spdlog.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

std::pair<int64_t, int32_t> Ordered(const google::protobuf::Timestamp& time) {
  return {time.seconds(), time.nanos()};
}

// The error of an operation its agent did not live to finish.
absl::Status AgentRestarted() {
  return WithReason(
      WithHint(absl::AbortedError(
                   "the agent stopped before this operation finished (it was killed or crashed, "
                   "or the host went down), and found it so when it started again: the work "
                   "stopped where it was"),
               "start the work again, with a new request_id if it had one; what it had done "
               "stays where it can resume (e.g. a partial download)"),
      reasons::kAgentRestarted);
}

absl::Status RequestIdReused(absl::string_view request_id, absl::string_view operation_id) {
  return WithMetadata(
      WithReason(
          WithHint(absl::AlreadyExistsError(absl::StrCat("request_id '", request_id,
                                                         "' came before with another request, "
                                                         "and started or joined operation ",
                                                         operation_id)),
                   "a retry repeats its request exactly; a new request needs a new request_id"),
          reasons::kRequestIdReused),
      metadata::kOperationId, operation_id);
}

}  // namespace

struct OperationRegistry::Core {
  struct Entry {
    std::shared_ptr<Operation> operation;
    std::string join_key;
    std::vector<RequestKey> requests;  // the request_ids that started or joined it
    std::string starter_request_id;    // the request_id that started it; "" when none did
  };
  struct Runner {
    std::thread thread;
    bool exited = false;  // the work is done and the operation finished
  };

  explicit Core(Options options) : options(std::move(options)), random(std::random_device()()) {}

  std::string NewIdLocked() {
    std::uniform_int_distribution<uint32_t> digits;
    uint32_t value = digits(random);
    while (!issued.insert(value).second) value = digits(random);
    char id[16];
    std::snprintf(id, sizeof(id), "op-%08x", value);
    return id;
  }

  const Entry* FindLocked(absl::string_view id) const {
    for (const Entry& entry : entries) {
      if (entry.operation->id() == id) return &entry;
    }
    return nullptr;
  }

  // An operation's state listener that publishes its snapshots to `events` (none when null).
  static Operation::StateListener PublishTo(std::shared_ptr<EventBus> events) {
    if (!events) return nullptr;
    return [events = std::move(events)](const v1::Operation& snapshot) {
      v1::AgentEvent event;
      *event.mutable_operation() = snapshot;
      events->Publish(std::move(event));
    };
  }

  // The entry with `request_id` and that request's key.
  std::pair<const Entry*, const RequestKey*> FindRequestLocked(absl::string_view request_id) const {
    for (const Entry& entry : entries) {
      for (const RequestKey& key : entry.requests) {
        if (key.id == request_id) return {&entry, &key};
      }
    }
    return {nullptr, nullptr};
  }

  // Writes the unfinished `operation` to the history as it is now (when it starts, and when a
  // request_id joins it), unless the registry keeps none, has forgotten it, or has written its
  // final record already (PersistFinal). Writes are serialized and each reads the state anew, so
  // the last one written is the latest.
  void Persist(const Operation& operation) {
    std::lock_guard<std::mutex> history_lock(history_mu);
    if (!history || finals_written.contains(operation.id())) return;
    agent::ops::OperationRecord record;
    if (!AddRequestsLocked(operation, &record)) return;
    *record.mutable_operation() = operation.Snapshot();
    record.mutable_operation()->clear_watchers();
    record.set_last_sequence(operation.last_sequence());
    SaveLocked(record);
  }

  // Writes the final record of an operation that is about to show `final_snapshot` and
  // `final_event` (Operation::FinishHook): nobody sees an operation finished that the history
  // would bring back unfinished.
  void PersistFinal(const Operation& operation, const v1::Operation& final_snapshot,
                    const v1::OperationEvent& final_event) {
    std::lock_guard<std::mutex> history_lock(history_mu);
    if (!history) return;
    agent::ops::OperationRecord record;
    if (!AddRequestsLocked(operation, &record)) return;
    *record.mutable_operation() = final_snapshot;
    record.mutable_operation()->clear_watchers();
    *record.mutable_final_event() = final_event;
    record.set_last_sequence(final_event.sequence());
    finals_written.insert(operation.id());
    SaveLocked(record);
  }

  // The request keys of `operation` into `record`; false when the registry has forgotten it.
  // Needs history_mu.
  bool AddRequestsLocked(const Operation& operation, agent::ops::OperationRecord* record) {
    std::lock_guard<std::mutex> lock(mu);
    const Entry* entry = FindLocked(operation.id());
    if (entry == nullptr || entry->operation.get() != &operation) return false;
    for (const RequestKey& key : entry->requests) {
      agent::ops::RequestKey* saved = record->add_requests();
      saved->set_id(key.id);
      saved->set_fingerprint(key.fingerprint);
    }
    return true;
  }

  // Needs history_mu.
  void SaveLocked(const agent::ops::OperationRecord& record) {
    if (absl::Status status = history->Save(record); !status.ok()) {
      spdlog::warn("operation {} is not in the history on disk: {}", record.operation().id(),
                   std::string(status.message()));
    }
  }

  // Has `operation` written to the history when it finishes, before anyone sees it finished.
  static void PersistWhenFinished(const std::shared_ptr<Core>& core, Operation& operation) {
    operation.SetFinishHook(
        [weak = std::weak_ptr<Core>(core), &operation](const v1::Operation& final_snapshot,
                                                       const v1::OperationEvent& final_event) {
          if (std::shared_ptr<Core> alive = weak.lock()) {
            alive->PersistFinal(operation, final_snapshot, final_event);
          }
        });
  }

  // Applies the bounds of Options (EvictLocked) and removes what they evicted from the history.
  void Tidy() {
    std::vector<std::string> evicted;
    {
      std::lock_guard<std::mutex> lock(mu);
      evicted = EvictLocked();
    }
    if (evicted.empty()) return;  // without waiting for a write in progress
    std::lock_guard<std::mutex> history_lock(history_mu);
    if (!history) return;
    for (const std::string& id : evicted) {
      history->Remove(id);
      finals_written.erase(id);
    }
  }

  // Called by a work thread as its last step.
  void OnExit(std::list<Runner>::iterator runner) {
    std::lock_guard<std::mutex> lock(mu);
    if (closing) return;  // the registry is being destroyed and owns the runners now
    runner->exited = true;
  }

  // Forgets the finished operations beyond options.max_finished (those that finished first) or
  // older than options.max_age, and drops the events before the final one of those beyond
  // options.max_full_histories. Returns the ids forgotten. Run (through Tidy) at the start of
  // every public method, so the bounds hold whenever anyone looks.
  std::vector<std::string> EvictLocked() {
    std::vector<std::pair<uint64_t, Operation*>> finished;  // newest first, once sorted
    for (const Entry& entry : entries) {
      if (const uint64_t ticket = entry.operation->finish_ticket(); ticket != 0) {
        finished.emplace_back(ticket, entry.operation.get());
      }
    }
    std::sort(finished.begin(), finished.end(), std::greater<>());
    const absl::Time oldest_kept = options.clock() - options.max_age;
    std::unordered_set<const Operation*> evicted;
    for (size_t i = 0; i < finished.size(); ++i) {
      Operation* operation = finished[i].second;
      if (i >= options.max_finished || operation->finished_at() < oldest_kept) {
        evicted.insert(operation);
      } else if (i >= options.max_full_histories) {
        operation->ForgetEventsBeforeFinal();
      }
    }
    std::vector<std::string> ids;
    std::erase_if(entries, [&](const Entry& entry) {
      if (!evicted.contains(entry.operation.get())) return false;
      ids.push_back(entry.operation->id());
      return true;
    });
    return ids;
  }

  // The body of a work thread.
  static void Run(Core& core, Operation& operation, Work& work,
                  std::list<Runner>::iterator runner) {
    try {
      work(operation);
    } catch (const std::exception& e) {
      operation.Fail(absl::InternalError(absl::StrCat(operation.kind(), " failed: ", e.what())));
    } catch (...) {
      operation.Fail(
          absl::InternalError(absl::StrCat(operation.kind(), " failed with an unknown exception")));
    }
    // What the work captured may hold the last reference to the registry: let go of it here,
    // where the registry's destructor can tell it runs on a work thread.
    work = nullptr;
    // A no-op when the work finished the operation; CANCELLED when it stopped on request.
    operation.Fail(absl::InternalError(absl::StrCat(operation.kind(), " ended without a result")));
    core.OnExit(runner);
  }

  // Takes the runners whose threads are done; the caller joins them without holding mu.
  std::list<Runner> TakeExitedLocked() {
    std::list<Runner> exited;
    for (auto it = runners.begin(); it != runners.end();) {
      auto next = std::next(it);
      if (it->exited) exited.splice(exited.end(), runners, it);
      it = next;
    }
    return exited;
  }

  const Options options;
  // Taken before mu, never while holding it: writes and removals of records, in order.
  std::mutex history_mu;
  std::unique_ptr<OperationHistory> history;       // guarded by history_mu; null: memory only
  std::unordered_set<std::string> finals_written;  // guarded by history_mu
  std::mutex mu;
  // Everything below is guarded by mu.
  std::mt19937 random;
  std::unordered_set<uint32_t> issued;  // ids are never reused
  std::vector<Entry> entries;           // oldest first
  std::list<Runner> runners;
  bool closing = false;
};

OperationRegistry::OperationRegistry() : OperationRegistry(Options()) {}

OperationRegistry::OperationRegistry(Options options)
    : core_(std::make_shared<Core>(std::move(options))) {}

OperationRegistry::~OperationRegistry() {
  std::list<Core::Runner> runners;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->closing = true;
    for (const Core::Entry& entry : core_->entries) {
      entry.operation->RequestCancel(AgentShuttingDown(""));
    }
    runners.swap(core_->runners);
  }
  for (Core::Runner& runner : runners) {
    // The last reference to the registry may be dropped by a work thread itself.
    if (runner.thread.get_id() == std::this_thread::get_id()) {
      runner.thread.detach();
    } else {
      runner.thread.join();
    }
  }
}

bool IsOperationId(absl::string_view id) {
  constexpr absl::string_view kPrefix = "op-";
  return id.size() == kPrefix.size() + 8 && absl::StartsWith(id, kPrefix) &&
         std::all_of(id.begin() + kPrefix.size(), id.end(),
                     [](char c) { return absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'); });
}

void OperationRegistry::KeepHistory(std::unique_ptr<OperationHistory> history) {
  std::vector<agent::ops::OperationRecord> records = history->Load();
  // Restored in the order they finished, so that they are forgotten in that order; listed in
  // the order they were created.
  std::sort(records.begin(), records.end(), [](const auto& a, const auto& b) {
    return std::pair(!a.has_final_event(), Ordered(a.operation().finished_at())) <
           std::pair(!b.has_final_event(), Ordered(b.operation().finished_at()));
  });
  std::vector<std::shared_ptr<Operation>> cut_off;
  {
    std::lock_guard<std::mutex> history_lock(core_->history_mu);
    core_->history = std::move(history);
    std::lock_guard<std::mutex> lock(core_->mu);
    std::vector<std::pair<std::pair<int64_t, int32_t>, Core::Entry>> restored;  // by creation
    for (const agent::ops::OperationRecord& record : records) {
      Core::Entry& entry =
          restored.emplace_back(Ordered(record.operation().created_at()), Core::Entry()).second;
      entry.operation = Operation::Restore(
          record.operation(), record.has_final_event() ? &record.final_event() : nullptr,
          std::max<uint64_t>(record.last_sequence(), 1), core_->options.clock);
      for (const agent::ops::RequestKey& key : record.requests()) {
        entry.requests.push_back({key.id(), key.fingerprint()});
      }
      // The history keeps no starter: the first request_id is the likeliest.
      if (!entry.requests.empty()) entry.starter_request_id = entry.requests.front().id;
      uint32_t number = 0;
      if (std::sscanf(record.operation().id().c_str(), "op-%8x", &number) == 1) {
        core_->issued.insert(number);
      }
      if (entry.operation->finished()) {
        core_->finals_written.insert(entry.operation->id());
      } else {
        Core::PersistWhenFinished(core_, *entry.operation);
        cut_off.push_back(entry.operation);
      }
    }
    std::stable_sort(restored.begin(), restored.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    std::vector<Core::Entry> entries;
    for (auto& [created, entry] : restored) entries.push_back(std::move(entry));
    for (Core::Entry& entry : core_->entries) entries.push_back(std::move(entry));
    core_->entries = std::move(entries);
  }
  for (const std::shared_ptr<Operation>& operation : cut_off) operation->Fail(AgentRestarted());
  core_->Tidy();
}

std::shared_ptr<Operation> OperationRegistry::Start(absl::string_view kind,
                                                    absl::string_view target,
                                                    absl::string_view join_key, Work work) {
  // Without a request_id nothing can refuse the start.
  return *Start(kind, target, join_key, RequestKey(), std::move(work));
}

absl::StatusOr<std::shared_ptr<Operation>> OperationRegistry::Start(absl::string_view kind,
                                                                    absl::string_view target,
                                                                    absl::string_view join_key,
                                                                    const RequestKey& request,
                                                                    Work work) {
  absl::StatusOr<Started> started =
      Start(kind, target, join_key, request, Operation::Starter(), std::move(work));
  if (!started.ok()) return started.status();
  return std::move(started->operation);
}

absl::StatusOr<OperationRegistry::Started> OperationRegistry::Start(
    absl::string_view kind, absl::string_view target, absl::string_view join_key,
    const RequestKey& request, const Operation::Starter& starter, Work work) {
  core_->Tidy();
  std::shared_ptr<Operation> operation;
  std::list<Core::Runner> exited;
  absl::Status no_thread;
  bool joined = false;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    if (!request.id.empty()) {
      if (const auto [entry, key] = core_->FindRequestLocked(request.id); entry != nullptr) {
        if (key->fingerprint != request.fingerprint) {
          return RequestIdReused(request.id, entry->operation->id());
        }
        return Started{entry->operation, entry->starter_request_id != request.id};
      }
    }
    for (Core::Entry& entry : core_->entries) {
      if (join_key.empty() || entry.join_key != join_key || entry.operation->finished()) continue;
      if (request.id.empty()) return Started{entry.operation, true};
      entry.requests.push_back(request);  // the history must know it (Persist below)
      operation = entry.operation;
      joined = true;
      break;
    }
    if (!joined) {
      exited = core_->TakeExitedLocked();
      operation = std::make_shared<Operation>(core_->NewIdLocked(), std::string(kind),
                                              std::string(target), core_->options.clock,
                                              core_->PublishTo(core_->options.events), starter);
      Core::Entry& entry = core_->entries.emplace_back();
      entry.operation = operation;
      entry.join_key = std::string(join_key);
      entry.starter_request_id = request.id;
      if (!request.id.empty()) entry.requests.push_back(request);
      Core::PersistWhenFinished(core_, *operation);
      auto runner = core_->runners.emplace(core_->runners.end());
      try {
        runner->thread =
            std::thread([core = core_, operation, work = std::move(work), runner]() mutable {
              Core::Run(*core, *operation, work, runner);
            });
      } catch (const std::system_error& e) {
        core_->runners.erase(runner);
        no_thread = absl::ResourceExhaustedError(
            absl::StrCat("cannot start a thread for ", kind, ": ", e.what()));
      }
    }
  }
  for (Core::Runner& runner : exited) runner.thread.join();
  core_->Persist(*operation);
  if (!no_thread.ok()) operation->Fail(no_thread);  // outside mu: the finish hook takes it
  return Started{operation, joined};
}

absl::StatusOr<std::shared_ptr<Operation>> OperationRegistry::Find(absl::string_view id) const {
  core_->Tidy();
  std::lock_guard<std::mutex> lock(core_->mu);
  if (const Core::Entry* entry = core_->FindLocked(id)) return entry->operation;
  return WithMetadata(
      WithReason(
          WithHint(absl::NotFoundError(absl::StrCat(
                       "no operation '", id, "': unknown id, or finished too long ago to be kept")),
                   "`llorch-pool ops list` shows the known operations"),
          reasons::kOperationNotFound),
      metadata::kOperationId, id);
}

std::vector<v1::Operation> OperationRegistry::List(const std::vector<v1::OperationState>& states,
                                                   absl::string_view kind) const {
  core_->Tidy();
  std::vector<std::shared_ptr<Operation>> operations;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    for (auto it = core_->entries.rbegin(); it != core_->entries.rend(); ++it) {
      if (kind.empty() || it->operation->kind() == kind) operations.push_back(it->operation);
    }
  }
  std::vector<v1::Operation> snapshots;
  for (const std::shared_ptr<Operation>& operation : operations) {
    v1::Operation snapshot = operation->Snapshot();
    if (states.empty() ||
        std::find(states.begin(), states.end(), snapshot.state()) != states.end()) {
      snapshots.push_back(std::move(snapshot));
    }
  }
  return snapshots;
}

absl::StatusOr<v1::Operation> OperationRegistry::Cancel(absl::string_view id, absl::Status cause) {
  absl::StatusOr<std::shared_ptr<Operation>> operation = Find(id);
  if (!operation.ok()) return operation.status();
  (*operation)->RequestCancel(std::move(cause));
  return (*operation)->Snapshot();
}

size_t OperationRegistry::CancelAll(const absl::Status& cause, absl::Duration wait) {
  std::vector<std::shared_ptr<Operation>> running;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    for (const Core::Entry& entry : core_->entries) {
      if (entry.operation->RequestCancel(cause)) running.push_back(entry.operation);
    }
  }
  const absl::Time deadline = absl::Now() + wait;
  for (const std::shared_ptr<Operation>& operation : running) {
    while (!operation->finished() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
  }
  return running.size();
}

}  // namespace llorch
