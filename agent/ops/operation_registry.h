// The agent's operations: starts each one's work on its own thread, finds, lists and cancels
// them, and keeps a bounded history of finished ones.
//
// Start() with a non-empty join key returns the unfinished operation already started with that
// key, if any, so two requests for the same work share one operation; with a request_id, it
// returns the operation that id started or joined before, running or finished (AIP-155). Work
// that returns (or throws) without Succeed()/Fail() fails with INTERNAL naming its kind, or ends
// CANCELLED when a cancel was requested, so watchers never wait forever. Finished operations are
// kept up to the bounds of Options; the one that finished first is forgotten first.
//
// With KeepHistory(), every operation is also written to an OperationHistory when it starts,
// when a request_id joins it and when it finishes (before anyone sees it finished, so what a
// client saw end is never brought back unfinished), and the operations there come back when the
// next agent starts: GetOperation, ListOperations, WatchOperation and request_ids work across
// restarts. The destructor asks every running operation to stop (AGENT_SHUTDOWN) and joins
// their threads. Thread-safe.
#ifndef LLORCH_AGENT_OPS_OPERATION_REGISTRY_H_
#define LLORCH_AGENT_OPS_OPERATION_REGISTRY_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "agent/ops/event_bus.h"
#include "agent/ops/operation.h"
#include "agent/ops/operation_history.h"
#include "agent/ops/request_key.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

// True when `id` has the form of the ids Start() gives: "op-" and 8 lower-case hex digits.
bool IsOperationId(absl::string_view id);

class OperationRegistry {
 public:
  using Work = std::function<void(Operation&)>;

  struct Options {
    // Finished operations kept: at most max_finished, none that finished more than max_age ago.
    size_t max_finished = 1000;
    absl::Duration max_age = absl::Hours(7 * 24);
    // The newest finished ones keep every event, the others only their final one.
    size_t max_full_histories = 100;
    Operation::Clock clock = absl::Now;
    // Where each operation's creation and changes of state are published; none when null.
    std::shared_ptr<EventBus> events = nullptr;
  };

  OperationRegistry();
  explicit OperationRegistry(Options options);
  ~OperationRegistry();

  OperationRegistry(const OperationRegistry&) = delete;
  OperationRegistry& operator=(const OperationRegistry&) = delete;

  // Keeps the operations in `history` from now on; call it before the first Start(). The ones
  // it holds come back (finished ones with their final event only, see Operation::Restore), and
  // the ones that had not finished, because the agent that ran them died, end FAILED with code
  // ABORTED and reason AGENT_RESTARTED.
  void KeepHistory(std::unique_ptr<OperationHistory> history);

  // Creates an operation (id "op-" + 8 hex digits, never one the registry or its history knows)
  // and runs `work` on a new thread; or returns the unfinished operation started with
  // `join_key`.
  std::shared_ptr<Operation> Start(absl::string_view kind, absl::string_view target,
                                   absl::string_view join_key, Work work);
  // The same, and when `request` has an id: returns the operation that id started or joined,
  // running or finished, as long as it is kept, and starts nothing; ALREADY_EXISTS (reason
  // REQUEST_ID_REUSED) when it came with another fingerprint.
  absl::StatusOr<std::shared_ptr<Operation>> Start(absl::string_view kind, absl::string_view target,
                                                   absl::string_view join_key,
                                                   const RequestKey& request, Work work);

  // What Start() did for one request: started the operation (also when a retry with the
  // request_id that started it finds it again), or joined one another request started.
  struct Started {
    std::shared_ptr<Operation> operation;
    bool joined = false;
  };
  // The same, telling which, and recording `starter` in an operation it creates.
  absl::StatusOr<Started> Start(absl::string_view kind, absl::string_view target,
                                absl::string_view join_key, const RequestKey& request,
                                const Operation::Starter& starter, Work work);

  // NOT_FOUND (reason OPERATION_NOT_FOUND, with a hint) for an unknown or forgotten id.
  absl::StatusOr<std::shared_ptr<Operation>> Find(absl::string_view id) const;

  // Snapshots of the known operations, newest first; empty filters match everything.
  std::vector<pool::v1::Operation> List(const std::vector<pool::v1::OperationState>& states = {},
                                        absl::string_view kind = "") const;

  // Asks the operation to stop for `cause` (cancel_cause.h) and returns its snapshot right after
  // the request; a finished operation's snapshot comes back unchanged. NOT_FOUND as for Find().
  absl::StatusOr<pool::v1::Operation> Cancel(absl::string_view id, absl::Status cause);

  // Asks every unfinished operation to stop for `cause`, and waits up to `wait` for them to
  // finish (so their watchers get the final event before the agent goes). Returns how many were
  // asked.
  size_t CancelAll(const absl::Status& cause, absl::Duration wait);

 private:
  struct Core;
  std::shared_ptr<Core> core_;  // shared with the work threads
};

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_OPERATION_REGISTRY_H_
