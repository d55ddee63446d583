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
#include "llorch/pool/v1/operation.grpc.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

// While alive: the first Ctrl-C asks the agent to cancel the operation once its id is known
// (or just ends the call before that).
class CancelOnInterrupt {
 public:
  // `requested_by` is what the cancel request says this client is.
  CancelOnInterrupt(std::shared_ptr<grpc::Channel> channel, grpc::ClientContext* stream_context,
                    std::string requested_by)
      : channel_(std::move(channel)),
        stream_context_(stream_context),
        requested_by_(std::move(requested_by)),
        watch_([this] { Cancel(); }) {}

  void SetOperationId(const std::string& id) {
    std::lock_guard<std::mutex> lock(mutex_);
    operation_id_ = id;
  }

 private:
  void Cancel() {
    std::string id;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      id = operation_id_;
    }
    if (id.empty()) {
      stream_context_->TryCancel();  // nothing started yet: just stop
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
  InterruptWatch watch_;  // last: its thread may call Cancel() until it is gone
};

// Who cancelled operation `id`, when this client did not: from the error's reason and metadata.
std::string CancelledElsewhere(const std::string& id, const ClientError& error) {
  const auto fact = [&](const char* key) {
    const auto it = error.metadata.find(key);
    return it == error.metadata.end() ? std::string() : it->second;
  };
  if (error.reason == reasons::kCancelledByClient) {
    const std::string who = fact(metadata::kRequestedBy);
    return absl::StrCat("operation ", id, " was cancelled by another client: ",
                        who.empty() ? "it did not say who" : who, ", from ", fact(metadata::kPeer));
  }
  if (error.reason == reasons::kAgentShutdown) {
    const std::string signal = fact(metadata::kSignal);
    return absl::StrCat("operation ", id, " was cancelled: the agent is shutting down",
                        signal.empty() ? "" : absl::StrCat(" (", signal, ")"));
  }
  return absl::StrCat("operation ", id, " was cancelled, not by this client: ", error.message);
}

}  // namespace

OperationOutcome FollowOperation(Session& session, const OperationStarter& start) {
  OperationOutcome outcome;
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) {
    outcome.error = FromStatus(channel.status());
    return outcome;
  }
  grpc::ClientContext context;  // no deadline: operations take as long as they take
  ProgressDisplay display(stderr, isatty(STDERR_FILENO) != 0, session.quiet() || session.json(),
                          session.err_style());
  CancelOnInterrupt cancel(*channel, &context, "Ctrl-C in " + session.Describe());
  std::unique_ptr<grpc::ClientReaderInterface<v1::OperationEvent>> reader =
      start(&context, *channel);
  v1::OperationEvent event;
  v1::OperationEvent final_event;
  while (reader->Read(&event)) {
    if (event.sequence() == 1 || !event.operation_id().empty()) {
      cancel.SetOperationId(event.operation_id());
    }
    if (event.sequence() == 1) session.Verbose(1, "operation " + event.operation_id());
    if (session.jsonl()) session.Print(ToJsonLine(event) + "\n");
    display.OnEvent(event);
    if (event.final()) final_event = event;
  }
  display.Finish();
  grpc::Status status = reader->Finish();
  if (InterruptWatch::Interrupted()) {
    std::fprintf(
        stderr, "interrupted%s\n",
        final_event.state() == v1::OPERATION_STATE_CANCELLED ? ": operation cancelled" : "");
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

int RunOperation(Session& session, const OperationStarter& start, const ResultHandler& on_result) {
  const OperationOutcome outcome = FollowOperation(session, start);
  if (outcome.interrupted) return kExitInterrupted;
  if (outcome.error) return ReportError(*outcome.error, session.err_style());
  if (!outcome.result) return kExitOk;
  if (session.json() && !session.jsonl()) session.Print(ToJsonDocument(*outcome.result) + "\n");
  return (on_result ? on_result : PrintOperationResult)(*outcome.result, session);
}

}  // namespace llorch
