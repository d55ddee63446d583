#include "agent/ops/operation_registry.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <exception>
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

namespace llorch {
namespace v1 = pool::v1;

struct OperationRegistry::Core {
  struct Entry {
    std::shared_ptr<Operation> operation;
    std::string join_key;
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

  // Called by a work thread as its last step.
  void OnExit(std::list<Runner>::iterator runner) {
    std::lock_guard<std::mutex> lock(mu);
    if (closing) return;  // the registry is being destroyed and owns the runners now
    runner->exited = true;
  }

  // Forgets the operations that finished first while more than options.max_finished are kept.
  // Run at the start of every public method, so the bound holds whenever anyone looks.
  void EvictLocked() {
    std::vector<uint64_t> finished;
    for (const Entry& entry : entries) {
      if (const uint64_t ticket = entry.operation->finish_ticket(); ticket != 0) {
        finished.push_back(ticket);
      }
    }
    if (finished.size() <= options.max_finished) return;
    const size_t excess = finished.size() - options.max_finished;
    std::nth_element(finished.begin(), finished.begin() + static_cast<ptrdiff_t>(excess - 1),
                     finished.end());
    const uint64_t last_evicted = finished[excess - 1];
    // Operations finishing meanwhile get higher tickets and stay.
    std::erase_if(entries, [&](const Entry& entry) {
      const uint64_t ticket = entry.operation->finish_ticket();
      return ticket != 0 && ticket <= last_evicted;
    });
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

std::shared_ptr<Operation> OperationRegistry::Start(absl::string_view kind,
                                                    absl::string_view target,
                                                    absl::string_view join_key, Work work) {
  std::shared_ptr<Operation> operation;
  std::list<Core::Runner> exited;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->EvictLocked();
    if (!join_key.empty()) {
      for (const Core::Entry& entry : core_->entries) {
        if (entry.join_key == join_key && !entry.operation->finished()) return entry.operation;
      }
    }
    exited = core_->TakeExitedLocked();
    operation =
        std::make_shared<Operation>(core_->NewIdLocked(), std::string(kind), std::string(target),
                                    core_->options.clock, core_->PublishTo(core_->options.events));
    core_->entries.push_back({operation, std::string(join_key)});
    auto runner = core_->runners.emplace(core_->runners.end());
    try {
      runner->thread =
          std::thread([core = core_, operation, work = std::move(work), runner]() mutable {
            Core::Run(*core, *operation, work, runner);
          });
    } catch (const std::system_error& e) {
      core_->runners.erase(runner);
      operation->Fail(absl::ResourceExhaustedError(
          absl::StrCat("cannot start a thread for ", kind, ": ", e.what())));
    }
  }
  for (Core::Runner& runner : exited) runner.thread.join();
  return operation;
}

absl::StatusOr<std::shared_ptr<Operation>> OperationRegistry::Find(absl::string_view id) const {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->EvictLocked();
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
  std::vector<std::shared_ptr<Operation>> operations;
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    core_->EvictLocked();
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
