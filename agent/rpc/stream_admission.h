// Streaming calls per peer: the one line each streaming handler runs first.
//
// The server counts every streaming call of the llorch.pool.v1 API by peer while it streams
// (agent/server/peer_limits.h) and marks a call beyond its peer's limit. gRPC 1.51's server
// interceptors cannot end a call before its handler runs, so the handler asks: a marked call is
// refused before it runs anything (before an operation starts), RESOURCE_EXHAUSTED with reason
// TOO_MANY_STREAMS and the message the server wrote. Calls the server did not mark (every call
// of an in-process channel, which is not counted) are admitted.
#ifndef LLORCH_AGENT_RPC_STREAM_ADMISSION_H_
#define LLORCH_AGENT_RPC_STREAM_ADMISSION_H_

#include <grpcpp/server_context.h>

#include "absl/status/status.h"

namespace llorch {

// The metadata key of the mark, in the call's client metadata as the handler sees it. The
// server removes any a client sent itself.
inline constexpr char kStreamRefusedKey[] = "x-llorch-stream-refused";

// OK unless the server refused this call for its peer's stream limit.
absl::Status CheckStreamAdmitted(const grpc::ServerContextBase& context);

}  // namespace llorch

#endif  // LLORCH_AGENT_RPC_STREAM_ADMISSION_H_
