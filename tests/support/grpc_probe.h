// Calls the standard gRPC health and reflection services the way generic tools (grpcurl,
// grpc_health_probe) do: by method name with hand-encoded protobuf bytes, because Debian ships
// neither service's .proto. Used to prove the agent answers them.
#ifndef LLORCH_TESTS_SUPPORT_GRPC_PROBE_H_
#define LLORCH_TESTS_SUPPORT_GRPC_PROBE_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace llorch::testing {

// grpc.health.v1.Health/Check for `service` ("" = the whole server). Returns the serving
// status number: 1 SERVING, 2 NOT_SERVING, 3 SERVICE_UNKNOWN.
absl::StatusOr<int> CheckHealth(const std::shared_ptr<grpc::Channel>& channel,
                                const std::string& service);

// A grpc.health.v1.Health/Watch stream for `service` ("" = the whole server), as load balancers
// use it: the serving status at once, then one message per change.
class HealthWatch {
 public:
  HealthWatch(const std::shared_ptr<grpc::Channel>& channel, const std::string& service);
  ~HealthWatch();
  HealthWatch(const HealthWatch&) = delete;
  HealthWatch& operator=(const HealthWatch&) = delete;

  // The next status the server sends (numbers as for CheckHealth); the stream's final status
  // as an error when it ended without one (within 60 s of the start).
  absl::StatusOr<int> Next();

 private:
  struct Call;
  std::unique_ptr<Call> call_;
};

// The service names grpc.reflection.v1alpha.ServerReflection lists.
absl::StatusOr<std::vector<std::string>> ListServicesByReflection(
    const std::shared_ptr<grpc::Channel>& channel);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_GRPC_PROBE_H_
