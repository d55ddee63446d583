// `llorch-pool ops ...`: long-running operations, from any client.
#include <cstdio>
#include <limits>
#include <memory>
#include <string>

#include "client/cli.h"
#include "client/operation_stream.h"
#include "client/render/operation_views.h"
#include "client/unary_call.h"
#include "llorch/pool/v1/operation.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;
using Stub = v1::OperationService::Stub;

// In standalone mode the agent lives only as long as this command: say why the list is short.
int NoteIfStandalone(Session& s, int exit_code) {
  if (s.standalone() && !s.quiet()) {
    std::fprintf(stderr, "%s\n",
                 s.err_style()
                     .Paint("note: no agent is running, so only this command's operations are "
                            "visible; start `pool-agent` to keep and watch operations across "
                            "commands",
                            Color::kDim)
                     .c_str());
  }
  return exit_code;
}
// Asks the agent to cancel `id`, then waits (up to 10 s) for the work to stop, so that the state
// shown is the final one rather than "running".
int CancelOperation(Session& s, const std::string& id) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.Channel();
  if (!channel.ok()) return s.Fail(channel.status());
  auto stub = v1::OperationService::NewStub(*channel);
  v1::CancelOperationRequest request;
  request.set_id(id);
  request.set_requested_by(s.Describe());
  v1::Operation operation;
  if (grpc::Status status = stub->CancelOperation(s.NewCallContext().get(), request, &operation);
      !status.ok()) {
    return s.Fail(status);
  }
  if (!IsFinished(operation.state())) {
    v1::WatchOperationRequest watch;
    watch.set_id(id);
    watch.set_after_sequence(std::numeric_limits<uint64_t>::max());  // live events only
    std::unique_ptr<grpc::ClientContext> context = s.NewCallContext(std::chrono::seconds(10));
    auto events = stub->WatchOperation(context.get(), watch);
    v1::OperationEvent event;
    while (events->Read(&event) && !event.final()) {
    }
    events->Finish();  // a deadline here just means the work is slow to stop
    v1::GetOperationRequest get;
    get.set_id(id);
    v1::Operation latest;
    if (stub->GetOperation(s.NewCallContext().get(), get, &latest).ok()) operation = latest;
  }
  PrintResponse(s, operation, Renderer<v1::Operation>(RenderOperation));
  return kExitOk;
}

}  // namespace

void AddOpsCommands(CommandLine& cli) {
  CLI::App* ops = cli.AddGroup(&cli.app(), "ops", "Long-running operations: list, watch, cancel",
                               "  llorch-pool ops list\n"
                               "  llorch-pool ops watch op-7f3a2c\n"
                               "  llorch-pool ops cancel op-7f3a2c\n");
  cli.AddCommand(ops, "list", "Running operations and recently finished ones",
                 "  llorch-pool ops list\n", [](Session& s) {
                   return NoteIfStandalone(
                       s, CallUnary<v1::OperationService>(
                              s, &Stub::ListOperations, v1::ListOperationsRequest(),
                              Renderer<v1::ListOperationsResponse>(RenderOperations)));
                 });

  auto get_id = std::make_shared<std::string>();
  cli.AddCommand(ops, "get", "One operation's state", "  llorch-pool ops get op-7f3a2c\n",
                 [get_id](Session& s) {
                   v1::GetOperationRequest request;
                   request.set_id(*get_id);
                   return NoteIfStandalone(s, CallUnary<v1::OperationService>(
                                                  s, &Stub::GetOperation, request,
                                                  Renderer<v1::Operation>(RenderOperation)));
                 })
      ->add_option("id", *get_id, "Operation id")
      ->required();

  auto watch_id = std::make_shared<std::string>();
  cli.AddCommand(ops, "watch", "Follow an operation: its history, then live progress",
                 "  llorch-pool ops watch op-7f3a2c\n",
                 [watch_id](Session& s) {
                   v1::WatchOperationRequest request;
                   request.set_id(*watch_id);
                   return NoteIfStandalone(
                       s, RunOperation<v1::OperationService>(
                              s, &v1::OperationService::Stub::WatchOperation, request));
                 })
      ->add_option("id", *watch_id, "Operation id")
      ->required();

  auto cancel_id = std::make_shared<std::string>();
  cli.AddCommand(
         ops, "cancel", "Cancel a running operation", "  llorch-pool ops cancel op-7f3a2c\n",
         [cancel_id](Session& s) { return NoteIfStandalone(s, CancelOperation(s, *cancel_id)); })
      ->add_option("id", *cancel_id, "Operation id")
      ->required();

  for (const char* command : {"get", "watch", "cancel"}) {
    cli.CompleteWith(ops->get_subcommand(command), OperationIdCandidates);
  }
}

}  // namespace llorch
