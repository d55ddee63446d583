// Streams an operation's events to a gRPC client: what every RPC that yields OperationEvents
// (and WatchOperation) returns.
//
// Writes the kept events after `after_sequence` (the history first; nothing to replay when it is
// at or beyond the last event), then live ones until the final event, and returns OK: the
// operation's own failure travels in that event, not in the RPC status. The stream of a finished
// operation always ends with its final event: alone when `after_sequence` is at or beyond it. When
// the client goes away (cancelled call, failed write; checked every 50 ms while waiting) it stops
// and returns CANCELLED; the operation keeps running, because a disconnect is not a cancel.
#ifndef LLORCH_AGENT_OPS_OPERATION_STREAM_H_
#define LLORCH_AGENT_OPS_OPERATION_STREAM_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include <cstdint>

#include "absl/strings/string_view.h"
#include "agent/ops/operation.h"
#include "agent/ops/operation_registry.h"
#include "common/operation_metadata.h"
#include "llorch/pool/v1/operation.pb.h"

namespace llorch {

// Sends `role` (operation_metadata::kRoleKey, common/operation_metadata.h) with the stream's
// initial metadata; before the first Write.
void AnnounceRole(grpc::ServerContext* context, const char* role);

grpc::Status StreamOperation(grpc::ServerContext* context, Operation& operation,
                             uint64_t after_sequence,
                             grpc::ServerWriterInterface<pool::v1::OperationEvent>* writer);

// What every RPC that starts an operation does once its request passed validation: starts the
// operation for `request` (a message with a request_id, see request_key.h) with `registry`, or
// finds the one it joins or its request_id started (OperationRegistry::Start), and streams its
// events from the first one kept, announcing whether this call started or joined it
// (AnnounceRole) and recording who started it (the call's `llorch-client` metadata, at most 200
// printable ASCII characters, and its peer). A malformed or reused request_id fails the call
// before anything starts.
grpc::Status StartAndStream(OperationRegistry& registry, const google::protobuf::Message& request,
                            absl::string_view kind, absl::string_view target,
                            absl::string_view join_key, OperationRegistry::Work work,
                            grpc::ServerContext* context,
                            grpc::ServerWriterInterface<pool::v1::OperationEvent>* writer);

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_OPERATION_STREAM_H_
