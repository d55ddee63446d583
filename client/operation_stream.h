// Runs a streaming RPC that yields OperationEvents and reports it: JSON lines with
// --output json, otherwise plain progress and log lines, then the result or the error.
//
// This is the minimal rendering every long command shares; the live progress bar (TTY), Ctrl-C
// cancellation and per-kind result tables build on it.
#ifndef LLORCH_CLIENT_OPERATION_STREAM_H_
#define LLORCH_CLIENT_OPERATION_STREAM_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include <functional>
#include <memory>

#include "client/session.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

using OperationStarter =
    std::function<std::unique_ptr<grpc::ClientReaderInterface<pool::v1::OperationEvent>>(
        grpc::ClientContext*, const std::shared_ptr<grpc::Channel>&)>;

// Starts the stream with `start`, renders every event, returns the exit code.
int RunOperation(Session& session, const OperationStarter& start);

// The same for a streaming method of Service, e.g. RunOperation<GitService>(s, &Stub::Pull, req).
template <typename Service, typename Request>
int RunOperation(Session& session,
                 std::unique_ptr<grpc::ClientReader<pool::v1::OperationEvent>> (
                     Service::Stub::*method)(grpc::ClientContext*, const Request&),
                 const Request& request) {
  return RunOperation(
      session, [&](grpc::ClientContext* context, const std::shared_ptr<grpc::Channel>& channel) {
        auto stub = Service::NewStub(channel);
        return ((*stub).*method)(context, request);
      });
}

}  // namespace llorch

#endif  // LLORCH_CLIENT_OPERATION_STREAM_H_
