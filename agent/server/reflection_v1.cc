#include "agent/server/reflection_v1.h"

#include <grpcpp/client_context.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/sync_stream.h>

#include <utility>

namespace llorch {
namespace {

using Request = grpc::reflection::v1::ServerReflectionRequest;
using Response = grpc::reflection::v1::ServerReflectionResponse;

// The v1alpha method, called with v1 messages: the same bytes on the wire.
constexpr char kV1AlphaMethod[] = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

}  // namespace

void ReflectionV1Service::SetServer(std::shared_ptr<grpc::Channel> in_process) {
  std::lock_guard<std::mutex> lock(mu_);
  in_process_ = std::move(in_process);
}

grpc::Status ReflectionV1Service::ServerReflectionInfo(
    grpc::ServerContext* context, grpc::ServerReaderWriter<Response, Request>* stream) {
  std::shared_ptr<grpc::Channel> channel;
  {
    std::lock_guard<std::mutex> lock(mu_);
    channel = in_process_;
  }
  if (!channel) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "the server is starting");
  // The v1alpha call ends when this one does: the client's deadline and cancellation carry over.
  std::unique_ptr<grpc::ClientContext> v1alpha_context =
      grpc::ClientContext::FromServerContext(*context);
  const grpc::internal::RpcMethod method(kV1AlphaMethod, grpc::internal::RpcMethod::BIDI_STREAMING);
  std::unique_ptr<grpc::ClientReaderWriter<Request, Response>> v1alpha(
      grpc::internal::ClientReaderWriterFactory<Request, Response>::Create(channel.get(), method,
                                                                           v1alpha_context.get()));
  // v1alpha answers every request with exactly one response, in order.
  Request request;
  Response response;
  while (stream->Read(&request)) {
    if (!v1alpha->Write(request) || !v1alpha->Read(&response)) break;
    if (!stream->Write(response)) break;
  }
  v1alpha->WritesDone();
  return v1alpha->Finish();
}

}  // namespace llorch
