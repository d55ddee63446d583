#include "agent/ops/operation_stream.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "agent/ops/request_key.h"
#include "agent/rpc/grpc_status.h"
#include "agent/rpc/stream_admission.h"

namespace llorch {
namespace v1 = pool::v1;

namespace {

// How often a waiting stream checks whether its client is still there.
constexpr absl::Duration kPollInterval = absl::Milliseconds(50);

// Counts the stream in Operation::Snapshot().watchers while it lives.
class WatcherScope {
 public:
  explicit WatcherScope(Operation& operation) : operation_(operation) { operation_.AddWatcher(); }
  ~WatcherScope() { operation_.RemoveWatcher(); }
  WatcherScope(const WatcherScope&) = delete;
  WatcherScope& operator=(const WatcherScope&) = delete;

 private:
  Operation& operation_;
};

grpc::Status ClientGone(const Operation& operation) {
  return grpc::Status(
      grpc::StatusCode::CANCELLED,
      absl::StrCat("the client stopped watching; operation ", operation.id(),
                   " goes on (`llorch-pool ops watch ", operation.id(), "` follows it again)"));
}

// What the starting call's client said it is (`llorch-client`): printable ASCII only, cut at 200.
std::string ClientOf(const grpc::ServerContext& context) {
  constexpr size_t kMaxLength = 200;
  const auto& metadata = context.client_metadata();
  const auto found = metadata.find(operation_metadata::kClientKey);
  if (found == metadata.end()) return "";
  std::string client;
  for (char c : found->second) {
    if (client.size() == kMaxLength) break;
    client.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return client;
}

}  // namespace

void AnnounceRole(grpc::ServerContext* context, const char* role) {
  context->AddInitialMetadata(operation_metadata::kRoleKey, role);
}

grpc::Status StreamOperation(grpc::ServerContext* context, Operation& operation,
                             uint64_t after_sequence,
                             grpc::ServerWriterInterface<v1::OperationEvent>* writer) {
  if (absl::Status admitted = CheckStreamAdmitted(*context); !admitted.ok()) {
    return ToGrpcStatus(admitted);
  }
  WatcherScope watching(operation);
  // Beyond the last event there is nothing to skip: the client gets the live events, or the
  // final one again (after a restart the agent may not have numbered events as far as the client
  // saw them).
  const bool finished = operation.finished();
  const uint64_t last = operation.last_sequence();
  uint64_t sequence = std::min(after_sequence, finished ? last - 1 : last);
  v1::OperationEvent event;
  while (true) {
    if (context->IsCancelled()) return ClientGone(operation);
    switch (operation.WaitForEvent(sequence, kPollInterval, &event)) {
      case Operation::WaitResult::kTimeout:
        break;
      case Operation::WaitResult::kEnded:
        return grpc::Status::OK;  // the client had seen the final event already
      case Operation::WaitResult::kEvent:
        if (!writer->Write(event)) return ClientGone(operation);
        sequence = event.sequence();
        if (event.final()) return grpc::Status::OK;
        break;
    }
  }
}

grpc::Status StartAndStream(OperationRegistry& registry, const google::protobuf::Message& request,
                            absl::string_view kind, absl::string_view target,
                            absl::string_view join_key, OperationRegistry::Work work,
                            grpc::ServerContext* context,
                            grpc::ServerWriterInterface<v1::OperationEvent>* writer) {
  // Refused for the peer's stream limit: before anything starts.
  if (absl::Status admitted = CheckStreamAdmitted(*context); !admitted.ok()) {
    return ToGrpcStatus(admitted);
  }
  absl::StatusOr<RequestKey> key = RequestKeyOf(request);
  if (!key.ok()) return ToGrpcStatus(key.status());
  absl::StatusOr<OperationRegistry::Started> started =
      registry.Start(kind, target, join_key, *key,
                     Operation::Starter{ClientOf(*context), context->peer()}, std::move(work));
  if (!started.ok()) return ToGrpcStatus(started.status());
  AnnounceRole(context, started->joined ? operation_metadata::kRoleJoined
                                        : operation_metadata::kRoleStarted);
  return StreamOperation(context, *started->operation, 0, writer);
}

}  // namespace llorch
