// Streams an operation's events to a gRPC client: what every RPC that yields OperationEvents
// (and WatchOperation) returns.
//
// Writes the events after `after_sequence` (the history first; nothing to replay when it is at
// or beyond the last event), then live ones until the final event, and returns OK: the
// operation's own failure travels in that event, not in the RPC status. When the client goes
// away (cancelled call, failed write; checked every 50 ms while waiting) it stops and returns
// CANCELLED; the operation keeps running, because a disconnect is not a cancel.
#ifndef LLORCH_AGENT_OPS_OPERATION_STREAM_H_
#define LLORCH_AGENT_OPS_OPERATION_STREAM_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <cstdint>

#include "agent/ops/operation.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

grpc::Status StreamOperation(grpc::ServerContext* context, Operation& operation,
                             uint64_t after_sequence,
                             grpc::ServerWriterInterface<pool::v1::OperationEvent>* writer);

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_OPERATION_STREAM_H_
