// Streams the agent's events to a gRPC client: what AgentService.WatchEvents returns.
//
// First the kept events after request.after_sequence (0: from the oldest kept; at or beyond the
// latest: none), then live ones, until the client goes away (CANCELLED; checked every 50 ms
// while waiting). A resume the bus cannot serve is OUT_OF_RANGE with reason EVENTS_EXPIRED
// before anything is sent: an agent_instance_id other than this agent's (it restarted, and its
// sequence started anew), or an after_sequence older than the oldest event kept. A watcher that
// falls behind by more than the bus keeps ends the same way. Either way the client lists the
// state again and watches from the sequence it then gets. Once the watch is in place the
// response headers (initial metadata) go out at once, before any event: a client that waits for
// them knows every event from then on reaches it. A call beyond its peer's stream limit is
// RESOURCE_EXHAUSTED (agent/rpc/stream_admission.h).
#ifndef LLORCH_AGENT_OPS_EVENT_STREAM_H_
#define LLORCH_AGENT_OPS_EVENT_STREAM_H_

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>
#include <grpcpp/support/sync_stream.h>

#include "agent/ops/event_bus.h"
#include "llorch/pool/v1/agent.pb.h"

namespace llorch {

grpc::Status StreamEvents(grpc::ServerContext* context, const EventBus& bus,
                          const pool::v1::WatchEventsRequest& request,
                          grpc::ServerWriterInterface<pool::v1::AgentEvent>* writer);

}  // namespace llorch

#endif  // LLORCH_AGENT_OPS_EVENT_STREAM_H_
