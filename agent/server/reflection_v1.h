// Server reflection v1 (grpc.reflection.v1.ServerReflection) next to the v1alpha service that
// Debian 12's libgrpc++ brings (grpc++_reflection has only v1alpha in 1.51): current clients
// (grpcurl, grpcui, Postman) ask for v1 first.
//
// The two versions are wire-identical apart from the package name, so this service answers
// each v1 request by asking the server's own v1alpha service the same bytes over an in-process
// channel and sending back its answer: one implementation, the same descriptor pool and service
// list (which names both versions).
#ifndef LLORCH_AGENT_SERVER_REFLECTION_V1_H_
#define LLORCH_AGENT_SERVER_REFLECTION_V1_H_

#include <grpcpp/channel.h>

#include <memory>
#include <mutex>

#include "grpc/reflection/v1/reflection.grpc.pb.h"

namespace llorch {

class ReflectionV1Service final : public grpc::reflection::v1::ServerReflection::Service {
 public:
  // Where the v1alpha service answers: a channel to this server, known once it has started.
  // Until then calls fail UNAVAILABLE.
  void SetServer(std::shared_ptr<grpc::Channel> in_process);

  grpc::Status ServerReflectionInfo(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<grpc::reflection::v1::ServerReflectionResponse,
                               grpc::reflection::v1::ServerReflectionRequest>* stream) override;

 private:
  std::mutex mu_;
  std::shared_ptr<grpc::Channel> in_process_;  // guarded by mu_
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_REFLECTION_V1_H_
