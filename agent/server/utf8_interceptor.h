// Every message and status the agent sends holds valid UTF-8, and a request that cannot be read
// gets a clear INVALID_ARGUMENT.
//
// proto3 strings must be UTF-8: a client's parser refuses a message whose strings are not (grpc++
// then reports "No message returned for unary request"). The agent's strings come from outside:
// a GGUF's metadata, file and directory names, git's paths, a child's output. So this server
// interceptor, for every llorch.pool.v1 method, checks each message without copying it (most go
// as they are) and sends instead of a message with invalid bytes a copy in which each is
// replaced by U+FFFD (every string field, Any payloads included:
// common/message_strings.h), and does the same for the status message and the ErrorHint in the
// status details. Paths travel as such strings, for display: no request takes one back.
//
// A request the server could not parse (a string that is not UTF-8, or bytes that are not the
// method's request message) is answered INVALID_ARGUMENT with reason INVALID_REQUEST, instead of
// grpc's INTERNAL without a message.
#ifndef LLORCH_AGENT_SERVER_UTF8_INTERCEPTOR_H_
#define LLORCH_AGENT_SERVER_UTF8_INTERCEPTOR_H_

#include <grpcpp/support/server_interceptor.h>

#include <memory>

namespace llorch {

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewUtf8InterceptorFactory();

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_UTF8_INTERCEPTOR_H_
