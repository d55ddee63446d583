#include "client/render/event_views.h"

#include "absl/strings/str_cat.h"
#include "client/render/operation_views.h"
#include "client/render/progress.h"
#include "client/render/worker_views.h"
#include "google/protobuf/util/time_util.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

std::string OperationLine(const v1::Operation& operation, const Style& style) {
  const Cell state = StateCell(operation.state());
  std::string line =
      absl::StrCat("operation ", style.Paint(operation.id(), Color::kBold), " ", operation.kind(),
                   operation.target().empty() ? "" : " " + operation.target(), ": ",
                   style.Paint(state.text, state.color));
  if (operation.has_waiting_for()) {
    absl::StrAppend(&line, ", ", FormatWaiting(operation.waiting_for()));
  }
  if (operation.has_error()) absl::StrAppend(&line, ": ", operation.error().message());
  return line;
}

std::string ModelLine(const v1::ModelChange& change, const Style& style) {
  std::string what;
  switch (change.kind()) {
    case v1::ModelChange::KIND_INSTALLED:
      what = style.Paint("installed", Color::kGreen);
      break;
    case v1::ModelChange::KIND_REMOVED:
      what = "removed";
      break;
    case v1::ModelChange::KIND_UNVERIFIED:
      what = style.Paint("unverified", Color::kYellow) +
             " (its bytes differ from its manifest, which was withdrawn)";
      break;
    default:
      what = "changed";
  }
  return absl::StrCat("model ", style.Paint(change.model_id(), Color::kBold), " ", what,
                      change.operation_id().empty()
                          ? ""
                          : absl::StrCat(" (operation ", change.operation_id(), ")"));
}

// "worker worker-cpu-0 (pid 1234) exited with code 137: failed (exit 137)".
std::string WorkerLine(const v1::WorkerChange& change, const Style& style) {
  const v1::Worker& worker = change.worker();
  const std::string code = worker.exit_code() >= 0 ? absl::StrCat("with code ", worker.exit_code())
                                                   : "with its exit status unknown";
  std::string what;
  switch (change.kind()) {
    case v1::WorkerChange::KIND_STARTED:
      what = change.attempt() > 0 ? absl::StrCat("started again (restart ", change.attempt(), ")")
                                  : "started";
      break;
    case v1::WorkerChange::KIND_READY:
      what = style.Paint(absl::StrCat("ready on ", worker.uri()), Color::kGreen);
      break;
    case v1::WorkerChange::KIND_EXITED:
      what = style.Paint(absl::StrCat("exited ", code), Color::kRed);
      break;
    case v1::WorkerChange::KIND_RESTARTING:
      what = style.Paint(absl::StrCat("restarting in ",
                                      absl::FormatDuration(absl::Milliseconds(
                                          google::protobuf::util::TimeUtil::DurationToMilliseconds(
                                              change.restart_delay()))),
                                      " (restart ", change.attempt(), ")"),
                         Color::kYellow);
      break;
    case v1::WorkerChange::KIND_GAVE_UP:
      what = style.Paint("given up", Color::kRed) + ": " + change.reason();
      break;
    case v1::WorkerChange::KIND_ADOPTED:
      what = absl::StrCat("adopted by this agent: ", WorkerStateText(worker));
      break;
    case v1::WorkerChange::KIND_LOST:
      what = style.Paint("lost", Color::kRed) + ": " + change.reason();
      break;
    case v1::WorkerChange::KIND_STOPPED:
      what = absl::StrCat("stopped, exited ", code);
      break;
    default:
      what = "changed";
  }
  return absl::StrCat("worker ", style.Paint(worker.id(), Color::kBold),
                      worker.pid() > 0 ? absl::StrCat(" (pid ", worker.pid(), ")") : "", " ", what);
}

}  // namespace

std::string RenderAgentEvent(const v1::AgentEvent& event, const Style& style) {
  std::string what;
  switch (event.payload_case()) {
    case v1::AgentEvent::kOperation:
      what = OperationLine(event.operation(), style);
      break;
    case v1::AgentEvent::kModel:
      what = ModelLine(event.model(), style);
      break;
    case v1::AgentEvent::kWorker:
      what = WorkerLine(event.worker(), style);
      break;
    default:
      what = "an event this llorch-pool does not know (-o json shows it)";
  }
  return absl::StrCat(style.Paint(absl::StrCat("#", event.sequence()), Color::kDim), "  ",
                      TimeOfDay(event.time()), "  ", what, "\n");
}

}  // namespace llorch
