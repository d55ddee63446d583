// Runs a streaming RPC that yields OperationEvents, the way every long command does:
//   - progress on stderr (bar on a terminal, plain lines elsewhere, nothing with -q, -o json
//     or -o jsonl);
//   - with --output jsonl (or --events), every event as one JSON line on stdout;
//   - with --output json, one document on stdout: the final result (the result message's JSON,
//     without "@type"); nothing on stdout when the operation failed (the error is on stderr);
//   - otherwise the result on stdout through the command's result handler;
//   - Ctrl-C asks the agent to cancel the operation when this client started it (the agent
//     says so in the stream's initial metadata), waits for its final event and exits 130; when
//     it joined one another client started (or watches, `ops watch`), it stops watching, says
//     how to follow it again, and exits 130, leaving the operation running;
//   - with --detach (Session::detach()), it returns once the operation exists and prints its id
//     (refused in standalone mode, where the operation would end with this process).
#ifndef LLORCH_CLIENT_OPERATION_STREAM_H_
#define LLORCH_CLIENT_OPERATION_STREAM_H_

#include <google/protobuf/any.pb.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "client/session.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

using OperationStarter =
    std::function<std::unique_ptr<grpc::ClientReaderInterface<pool::v1::OperationEvent>>(
        grpc::ClientContext*, const std::shared_ptr<grpc::Channel>&)>;

// Handles a succeeded operation's result: prints it unless --output json or jsonl (then
// RunOperation printed it, or the events carried it) and returns the exit code, e.g. 1 for a
// verification that found problems. The default is PrintOperationResult (operation_results.h), by
// the result's type.
using ResultHandler = std::function<int(const google::protobuf::Any& result, Session& session)>;

// An operation left running with --detach.
struct Detached {
  std::string operation_id;
  bool joined = false;  // it was already running, started by another client
};

// How an operation the client followed ended.
struct OperationOutcome {
  // --detach: the operation exists and goes on; nothing else is set.
  std::optional<Detached> detached;
  // Ctrl-C stopped it (already said on stderr): exit 130.
  bool interrupted = false;
  // It failed, was cancelled elsewhere, or could not be started or followed.
  std::optional<ClientError> error;
  // The result of a succeeded operation (unset when it had none).
  std::optional<google::protobuf::Any> result;
};

// Starts the stream with `start` and renders its progress (and, with -o jsonl, its events);
// prints neither the result nor the error. `detach`: returns once the operation exists
// (OperationOutcome::detached), or with an error in standalone mode (CheckDetachable).
OperationOutcome FollowOperation(Session& session, const OperationStarter& start,
                                 bool detach = false);

// The same for a streaming method of Service.
template <typename Service, typename Request>
OperationOutcome FollowOperation(Session& session,
                                 std::unique_ptr<grpc::ClientReader<pool::v1::OperationEvent>> (
                                     Service::Stub::*method)(grpc::ClientContext*, const Request&),
                                 const Request& request, bool detach = false) {
  return FollowOperation(
      session,
      [&](grpc::ClientContext* context, const std::shared_ptr<grpc::Channel>& channel) {
        auto stub = Service::NewStub(channel);
        return ((*stub).*method)(context, request);
      },
      detach);
}

// OK when --detach can work: the session has an agent process (it connects if it has not yet);
// INVALID_ARGUMENT in standalone mode, where the operation would end with this process.
absl::Status CheckDetachable(Session& session);

// With --detach (Session::detach()) that cannot work: says why and returns the exit code (2);
// nullopt otherwise. For commands that ask a question or run several operations first.
std::optional<int> RefuseUnworkableDetach(Session& session);

// Prints what --detach returns: the operation id on stdout (-o json: {"operation_id": ...,
// "joined": ...}), and unless -q or JSON how to follow it on stderr.
void PrintDetached(Session& session, const Detached& detached);

// Starts the stream with `start`, renders every event, returns the exit code.
int RunOperation(Session& session, const OperationStarter& start,
                 const ResultHandler& on_result = nullptr);

// The same for a streaming method of Service, e.g. RunOperation<GitService>(s, &Stub::Pull, req).
template <typename Service, typename Request>
int RunOperation(Session& session,
                 std::unique_ptr<grpc::ClientReader<pool::v1::OperationEvent>> (
                     Service::Stub::*method)(grpc::ClientContext*, const Request&),
                 const Request& request, const ResultHandler& on_result = nullptr) {
  return RunOperation(
      session,
      [&](grpc::ClientContext* context, const std::shared_ptr<grpc::Channel>& channel) {
        auto stub = Service::NewStub(channel);
        return ((*stub).*method)(context, request);
      },
      on_result);
}

}  // namespace llorch

#endif  // LLORCH_CLIENT_OPERATION_STREAM_H_
