// Runs a streaming RPC that yields OperationEvents and reports it: JSON lines with
// --output json, otherwise plain progress and log lines, then the result or the error.
//
// This is the minimal rendering every long command shares; the live progress bar (TTY), Ctrl-C
// cancellation and per-kind result tables build on it.
#ifndef LLORCH_CLIENT_OPERATION_STREAM_H_
#define LLORCH_CLIENT_OPERATION_STREAM_H_

#include <functional>
#include <memory>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/sync_stream.h>

#include "client/session.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

using OperationStarter =
    std::function<std::unique_ptr<grpc::ClientReaderInterface<pool::v1::OperationEvent>>(
        grpc::ClientContext*, const std::shared_ptr<grpc::Channel>&)>;

// Starts the stream with `start`, renders every event, returns the exit code.
int RunOperation(Session& session, const OperationStarter& start);

}  // namespace llorch

#endif  // LLORCH_CLIENT_OPERATION_STREAM_H_
