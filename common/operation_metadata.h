// The gRPC metadata of the streams that follow an operation (operation.proto, OperationEvent),
// part of the v1 API: shared by the agent, which sends and reads them, and the CLI.
#ifndef LLORCH_COMMON_OPERATION_METADATA_H_
#define LLORCH_COMMON_OPERATION_METADATA_H_

namespace llorch::operation_metadata {

// Initial metadata of every stream of OperationEvents: what this call is to the operation.
inline constexpr char kRoleKey[] = "llorch-operation-role";
// This call started it (or is a retry, with the same request_id, of the call that did).
inline constexpr char kRoleStarted[] = "started";
// This call joined an operation another request started.
inline constexpr char kRoleJoined[] = "joined";
// WatchOperation.
inline constexpr char kRoleWatching[] = "watching";
// Sent by a client on a call that starts an operation: what it is, in a few words (printable
// ASCII), kept as Operation.started_by.
inline constexpr char kClientKey[] = "llorch-client";

}  // namespace llorch::operation_metadata

#endif  // LLORCH_COMMON_OPERATION_METADATA_H_
