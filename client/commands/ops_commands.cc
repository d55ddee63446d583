// `llorch-pool ops ...`: long-running operations, from any client.
#include <google/protobuf/util/time_util.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/interrupt.h"
#include "client/operation_stream.h"
#include "client/render/json.h"
#include "client/render/operation_views.h"
#include "client/render/visible.h"
#include "client/unary_call.h"
#include "common/status.h"
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

// The operations as `ops list` shows them, with elapsed times up to now.
std::string RenderList(const v1::ListOperationsResponse& response, const Style& style) {
  return RenderOperations(response, style, absl::Now());
}

// One line for a pipe when an operation appeared or changed state:
// "14:03:22  op-7f3a2c1d  model.download  tiny  running  (started by ...)".
std::string ChangeLine(const v1::Operation& operation) {
  std::string line = absl::StrCat(TimeOfDay(google::protobuf::util::TimeUtil::GetCurrentTime()),
                                  "  ", operation.id(), "  ", operation.kind());
  if (!operation.target().empty()) absl::StrAppend(&line, "  ", operation.target());
  absl::StrAppend(&line, "  ", StateCell(operation.state()).text);
  if (IsFinished(operation.state())) {
    absl::StrAppend(&line, " after ", Elapsed(operation, absl::Now()));
  } else if (!operation.started_by().empty()) {
    absl::StrAppend(&line, "  (started by ", operation.started_by(), ")");
  }
  return Visible(line) + "\n";
}

// `ops list --watch`: the list again every second until Ctrl-C (exit 130). On a terminal the
// table is redrawn in place; in a pipe the table comes once, then a line per operation that
// appears or changes state; with -o json, the whole list as one JSON line whenever it changed.
int WatchList(Session& s) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.Channel();
  if (!channel.ok()) return s.Fail(channel.status());
  if (s.standalone()) {
    return s.Fail(WithHint(absl::FailedPreconditionError(
                               "ops list --watch needs a running agent: with none, this command "
                               "sees only its own operations, and it starts none"),
                           "start `pool-agent`, then watch again"));
  }
  auto stub = v1::OperationService::NewStub(*channel);
  const bool redraw = isatty(STDOUT_FILENO) != 0 && !s.json();
  InterruptWatch interrupt([] {});
  std::map<std::string, v1::OperationState> seen;
  std::string last_json;
  bool first = true;
  while (!InterruptWatch::Interrupted()) {
    v1::ListOperationsResponse response;
    if (grpc::Status status = stub->ListOperations(s.NewCallContext(std::chrono::seconds(10)).get(),
                                                   v1::ListOperationsRequest(), &response);
        !status.ok()) {
      if (InterruptWatch::Interrupted()) break;
      return s.Fail(status);
    }
    if (s.json()) {
      const std::string json = ToJsonLine(response);
      if (json != last_json) s.Print(json + "\n");
      last_json = json;
    } else if (redraw) {
      s.Print(absl::StrCat("\033[H\033[2J", "llorch-pool ops list --watch   ",
                           TimeOfDay(google::protobuf::util::TimeUtil::GetCurrentTime()),
                           "   (Ctrl-C to stop)\n\n",
                           RenderVisible(RenderList, response, s.out_style())));
    } else if (first) {
      s.Print(RenderVisible(RenderList, response, s.out_style()));
    } else {
      // Oldest first, so that the lines read in the order things happened.
      for (int i = response.operations_size() - 1; i >= 0; --i) {
        const v1::Operation& operation = response.operations(i);
        const auto found = seen.find(operation.id());
        if (found == seen.end() || found->second != operation.state()) {
          s.Print(ChangeLine(operation));
        }
      }
    }
    std::fflush(stdout);
    seen.clear();
    for (const v1::Operation& operation : response.operations()) {
      seen[operation.id()] = operation.state();
    }
    first = false;
    for (int i = 0; i < 10 && !InterruptWatch::Interrupted(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  return kExitInterrupted;
}

}  // namespace

void AddOpsCommands(CommandLine& cli) {
  CLI::App* ops = cli.AddGroup(&cli.app(), "ops", "Long-running operations: list, watch, cancel",
                               "  llorch-pool ops list\n"
                               "  llorch-pool ops watch op-7f3a2c\n"
                               "  llorch-pool ops cancel op-7f3a2c\n");
  auto list_watch = std::make_shared<bool>(false);
  cli.AddCommand(
         ops, "list", "Running operations and recently finished ones",
         "  llorch-pool ops list\n"
         "  llorch-pool ops list --watch     follow: redrawn every second; Ctrl-C stops (130)\n"
         "  llorch-pool ops list -o json | jq '.operations[] | select(.state == "
         "\"OPERATION_STATE_RUNNING\") | .id'\n"
         "Columns: when each started (local time), how long it ran or has run, its state and\n"
         "progress, and who started it (what the client said it is: command, pid, host, uid).\n",
         [list_watch](Session& s) {
           if (*list_watch) return WatchList(s);
           return NoteIfStandalone(s, CallUnary<v1::OperationService>(
                                          s, &Stub::ListOperations, v1::ListOperationsRequest(),
                                          Renderer<v1::ListOperationsResponse>(RenderList)));
         })
      ->add_flag("-w,--watch", *list_watch,
                 "Follow: redraw the list every second on a terminal (in a pipe: a line per "
                 "operation that starts or changes state) until Ctrl-C");

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
                 "  llorch-pool ops watch op-7f3a2c\n"
                 "Ctrl-C stops watching and leaves the operation running (exit 130);\n"
                 "`llorch-pool ops cancel ID` stops it.\n",
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
