#include "client/operation_stream.h"

#include <unistd.h>

#include <cstdio>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "client/interrupt.h"
#include "client/operation_results.h"
#include "client/render/json.h"
#include "client/render/progress.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/operation_metadata.h"
#include "common/status.h"
#include "llorch/pool/v1/operation.grpc.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

// What this client is to the operation it follows (common/operation_metadata.h).
enum class Role { kStarted, kJoined, kWatching };

// The role the agent announced in the stream's initial metadata; an agent that announces none
// (older than the announcement) is taken to mean "started", as before.
Role RoleOf(const grpc::ClientContext& context) {
  const auto& metadata = context.GetServerInitialMetadata();
  const auto found = metadata.find(operation_metadata::kRoleKey);
  if (found == metadata.end()) return Role::kStarted;
  const grpc::string_ref value = found->second;
  if (value == operation_metadata::kRoleJoined) return Role::kJoined;
  if (value == operation_metadata::kRoleWatching) return Role::kWatching;
  return Role::kStarted;
}

// While alive, the first Ctrl-C: once the operation's id is known, asks the agent to cancel it
// when this client started it, or just stops watching when it joined or watches (the operation
// goes on); before the id is known it just ends the call.
class CancelOnInterrupt {
 public:
  // `requested_by` is what the cancel request says this client is.
  CancelOnInterrupt(std::shared_ptr<grpc::Channel> channel, grpc::ClientContext* stream_context,
                    std::string requested_by)
      : channel_(std::move(channel)),
        stream_context_(stream_context),
        requested_by_(std::move(requested_by)),
        watch_([this] { Cancel(); }) {}

  void SetOperation(const std::string& id, Role role) {
    std::lock_guard<std::mutex> lock(mutex_);
    operation_id_ = id;
    role_ = role;
  }

 private:
  void Cancel() {
    std::string id;
    Role role;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      id = operation_id_;
      role = role_;
    }
    if (id.empty() || role != Role::kStarted) {
      stream_context_->TryCancel();  // nothing started yet, or not ours to stop: just stop
      return;
    }
    std::fprintf(stderr, "\ncancelling %s ...\n", id.c_str());
    v1::CancelOperationRequest request;
    request.set_id(id);
    request.set_requested_by(requested_by_);
    v1::Operation operation;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    if (!v1::OperationService::NewStub(channel_)
             ->CancelOperation(&context, request, &operation)
             .ok()) {
      stream_context_->TryCancel();
    }
  }

  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext* stream_context_;
  const std::string requested_by_;
  std::mutex mutex_;
  std::string operation_id_;
  Role role_ = Role::kStarted;
  InterruptWatch watch_;  // last: its thread may call Cancel() until it is gone
};

// "over the agent's unix socket" for "unix:" (a unix socket's peer has no address), else
// "from PEER".
std::string FromPeer(const std::string& peer) {
  if (peer.empty()) return "";
  if (peer == "unix:") return ", over the agent's unix socket";
  return ", from " + peer;
}

// Who cancelled operation `id`, when this client did not: from the error's reason and metadata.
// Only facts: no command to run, since the agent's own hint (if any) follows.
std::string CancelledElsewhere(const std::string& id, const ClientError& error) {
  const auto fact = [&](const char* key) {
    const auto it = error.metadata.find(key);
    return it == error.metadata.end() ? std::string() : it->second;
  };
  if (error.reason == reasons::kCancelledByClient) {
    const std::string who = fact(metadata::kRequestedBy);
    return absl::StrCat("operation ", id, " was cancelled by another client: ",
                        who.empty() ? "one that did not say who it is" : who,
                        FromPeer(fact(metadata::kPeer)));
  }
  if (error.reason == reasons::kAgentShutdown) {
    const std::string signal = fact(metadata::kSignal);
    return absl::StrCat("operation ", id, " was cancelled: the agent is shutting down",
                        signal.empty() ? "" : absl::StrCat(" (", signal, ")"));
  }
  return absl::StrCat("operation ", id, " was cancelled, not by this client: ", error.message);
}

// What a client that started nothing says when Ctrl-C stops it watching `id`.
void SayStoppedWatching(const std::string& id) {
  std::fprintf(stderr,
               "stopped watching %s; it goes on in the agent: `llorch-pool ops watch %s` follows "
               "it again, `llorch-pool ops cancel %s` stops it\n",
               id.c_str(), id.c_str(), id.c_str());
}

// `text` with what a gRPC metadata value may not hold replaced by '?'.
std::string MetadataValue(const std::string& text) {
  std::string value;
  for (char c : text) value.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  return value;
}

}  // namespace

absl::Status CheckDetachable(Session& session) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return channel.status();
  if (!session.standalone()) return absl::OkStatus();
  return WithHint(
      absl::InvalidArgumentError("--detach needs a running agent: with none, this command runs "
                                 "the operation inside its own process, which would end it on "
                                 "returning"),
      "start `pool-agent` (docs/operator-guide.md), or leave --detach out");
}

std::optional<int> RefuseUnworkableDetach(Session& session) {
  if (!session.detach()) return std::nullopt;
  if (absl::Status detachable = CheckDetachable(session); !detachable.ok()) {
    return session.Fail(detachable);
  }
  return std::nullopt;
}

OperationOutcome FollowOperation(Session& session, const OperationStarter& start, bool detach) {
  OperationOutcome outcome;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) {
    outcome.error = FromStatus(channel.status());
    return outcome;
  }
  if (detach) {
    if (absl::Status detachable = CheckDetachable(session); !detachable.ok()) {
      outcome.error = FromStatus(detachable);
      return outcome;
    }
  }
  grpc::ClientContext context;  // no deadline: operations take as long as they take
  context.AddMetadata(operation_metadata::kClientKey, MetadataValue(session.Describe()));
  ProgressDisplay display(stderr, isatty(STDERR_FILENO) != 0,
                          session.quiet() || session.json() || detach, session.err_style());
  CancelOnInterrupt cancel(*channel, &context, "Ctrl-C in " + session.Describe());
  std::unique_ptr<grpc::ClientReaderInterface<v1::OperationEvent>> reader =
      start(&context, *channel);
  v1::OperationEvent event;
  v1::OperationEvent final_event;
  std::string id;
  Role role = Role::kStarted;
  while (reader->Read(&event)) {
    if (id.empty()) {
      // The first event: the stream's initial metadata has come with it.
      id = event.operation_id();
      role = RoleOf(context);
      cancel.SetOperation(id, role);
      session.Verbose(1, absl::StrCat("operation ", id,
                                      role == Role::kJoined     ? " (joined)"
                                      : role == Role::kWatching ? " (watching)"
                                                                : " (started)"));
      if (detach) {
        outcome.detached = Detached{id, role == Role::kJoined};
        context.TryCancel();  // closing the stream leaves the operation running
        break;
      }
      if (role == Role::kJoined && !session.quiet() && !session.json()) {
        std::fprintf(stderr, "%s\n",
                     session.err_style()
                         .Paint(absl::StrCat("joined ", id,
                                             ", which another client started: Ctrl-C stops "
                                             "watching and leaves it running"),
                                Color::kDim)
                         .c_str());
      }
    }
    if (session.jsonl()) session.Print(ToJsonLine(event) + "\n");
    display.OnEvent(event);
    if (event.final()) final_event = event;
  }
  display.Finish();
  grpc::Status status = reader->Finish();
  if (outcome.detached) return outcome;
  if (InterruptWatch::Interrupted()) {
    if (role != Role::kStarted && !id.empty() && !final_event.final()) {
      SayStoppedWatching(id);
    } else {
      std::fprintf(
          stderr, "interrupted%s\n",
          final_event.state() == v1::OPERATION_STATE_CANCELLED ? ": operation cancelled" : "");
    }
    outcome.interrupted = true;
    return outcome;
  }
  if (!status.ok()) {
    outcome.error = FromGrpcStatus(status);
    return outcome;
  }
  if (final_event.has_error()) {
    ClientError error = FromOperationError(final_event.error());
    if (final_event.state() == v1::OPERATION_STATE_CANCELLED) {
      // Not by this client (that was handled above): say who, or the stop looks like a failure.
      error.message = CancelledElsewhere(final_event.operation_id(), error);
      error.exit_code = kExitInterrupted;
    }
    outcome.error = std::move(error);
    return outcome;
  }
  if (final_event.has_result()) outcome.result = final_event.result();
  return outcome;
}

void PrintDetached(Session& session, const Detached& detached) {
  if (session.json()) {
    session.Print(
        DumpJson(JsonValue{{"operation_id", detached.operation_id}, {"joined", detached.joined}},
                 session.jsonl()) +
        "\n");
  } else {
    session.Print(detached.operation_id + "\n");
  }
  if (session.quiet() || session.json()) return;
  const std::string& id = detached.operation_id;
  std::fprintf(stderr, "%s\n",
               session.err_style()
                   .Paint(absl::StrCat(detached.joined ? "joined " : "started ", id,
                                       detached.joined ? ", already running" : "",
                                       "; it goes on in the agent: `llorch-pool ops watch ", id,
                                       "` follows it, `llorch-pool ops get ", id,
                                       "` shows it, `llorch-pool ops cancel ", id, "` stops it"),
                          Color::kDim)
                   .c_str());
}

int RunOperation(Session& session, const OperationStarter& start, const ResultHandler& on_result) {
  const OperationOutcome outcome = FollowOperation(session, start, session.detach());
  if (outcome.detached) {
    PrintDetached(session, *outcome.detached);
    return kExitOk;
  }
  if (outcome.interrupted) return kExitInterrupted;
  if (outcome.error) return ReportError(*outcome.error, session.err_style());
  if (!outcome.result) return kExitOk;
  if (session.json() && !session.jsonl()) session.Print(ToJsonDocument(*outcome.result) + "\n");
  return (on_result ? on_result : PrintOperationResult)(*outcome.result, session);
}

}  // namespace llorch
