// One unary call to the agent, rendered: the response as JSON with --output json, otherwise as
// the command's table (or JSON when the command has no table yet). Returns the exit code.
#ifndef LLORCH_CLIENT_UNARY_CALL_H_
#define LLORCH_CLIENT_UNARY_CALL_H_

#include <functional>
#include <memory>
#include <string>

#include "client/render/visible.h"
#include "client/session.h"

namespace llorch {

template <typename Response>
using Renderer = std::function<std::string(const Response&, const Style&)>;

// Prints `response` as JSON with --output json or without `render`, else as `render` makes it
// (from a copy whose strings are visible: client/render/visible.h).
template <typename Response>
void PrintResponse(const Session& session, const Response& response,
                   const Renderer<Response>& render) {
  if (session.json() || !render) {
    session.PrintJson(response);
  } else {
    session.Print(RenderVisible(render, response, session.out_style()));
  }
}

template <typename Service, typename Request, typename Response>
int CallUnary(Session& session,
              grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&,
                                                    Response*),
              const Request& request, const Renderer<Response>& render = nullptr) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  auto stub = Service::NewStub(*channel);
  Response response;
  grpc::Status status = ((*stub).*method)(session.NewCallContext().get(), request, &response);
  if (!status.ok()) return session.Fail(status);
  PrintResponse(session, response, render);
  return kExitOk;
}

}  // namespace llorch

#endif  // LLORCH_CLIENT_UNARY_CALL_H_
