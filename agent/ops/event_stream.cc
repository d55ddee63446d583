#include "agent/ops/event_stream.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "agent/rpc/grpc_status.h"
#include "agent/rpc/stream_admission.h"
#include "common/error_metadata.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

// How often a waiting stream checks whether its client is still there.
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

// OUT_OF_RANGE, EVENTS_EXPIRED: `what` is gone; the client lists the state again.
grpc::Status Expired(const EventBus& bus, absl::string_view what) {
  return ToGrpcStatus(WithMetadata(
      WithMetadata(
          WithReason(WithHint(absl::OutOfRangeError(what),
                              "list what you follow again (ListOperations, ListModels), then "
                              "watch with after_sequence 0 (`llorch-pool agent events --after 0`)"),
                     reasons::kEventsExpired),
          metadata::kAgentInstanceId, bus.instance_id()),
      metadata::kFirstSequence, absl::StrCat(bus.first_kept_sequence())));
}

}  // namespace

grpc::Status StreamEvents(grpc::ServerContext* context, const EventBus& bus,
                          const v1::WatchEventsRequest& request,
                          grpc::ServerWriterInterface<v1::AgentEvent>* writer) {
  if (absl::Status admitted = CheckStreamAdmitted(*context); !admitted.ok()) {
    return ToGrpcStatus(admitted);
  }
  if (!request.agent_instance_id().empty() && request.agent_instance_id() != bus.instance_id()) {
    return Expired(bus,
                   absl::StrCat("the agent restarted: its events are counted anew (instance ",
                                bus.instance_id(), ", not ", request.agent_instance_id(), ")"));
  }
  // The watch is in place: a client that waits for the headers knows it hears what follows.
  writer->SendInitialMetadata();
  // 0 asks for everything kept; beyond the latest there is nothing to skip.
  uint64_t sequence = request.after_sequence() == 0
                          ? bus.first_kept_sequence() - 1
                          : std::min(request.after_sequence(), bus.last_sequence());
  v1::AgentEvent event;
  while (true) {
    if (context->IsCancelled()) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped watching");
    }
    switch (bus.WaitForEvent(sequence, kPollInterval, &event)) {
      case EventBus::ReadResult::kTimeout:
        break;
      case EventBus::ReadResult::kExpired:
        return Expired(bus,
                       absl::StrCat("the events after sequence ", sequence,
                                    " are no longer kept (the agent keeps the latest ",
                                    "ones; the oldest now is ", bus.first_kept_sequence(), ")"));
      case EventBus::ReadResult::kEvent:
        if (!writer->Write(event)) {
          return grpc::Status(grpc::StatusCode::CANCELLED, "the client stopped watching");
        }
        sequence = event.sequence();
        break;
    }
  }
}

}  // namespace llorch
