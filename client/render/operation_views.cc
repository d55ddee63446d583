#include "client/render/operation_views.h"

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/render/progress.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

// Where the operation is: the wait for a holder, or the last progress (once it has finished,
// without rate and ETA, which no longer apply).
std::string ProgressCell(const v1::Operation& operation) {
  if (operation.has_waiting_for()) return FormatWaiting(operation.waiting_for());
  if (!operation.has_progress()) return "";
  v1::Progress progress = operation.progress();
  if (IsFinished(operation.state())) {
    progress.clear_rate_per_second();
    progress.clear_eta();
  }
  return FormatProgress(progress, /*with_bar=*/false);
}

}  // namespace

std::string TimeOfDay(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0) return "-";
  return absl::FormatTime("%H:%M:%S", absl::FromUnixSeconds(time.seconds()), absl::LocalTimeZone());
}

Cell StateCell(v1::OperationState state) {
  switch (state) {
    case v1::OPERATION_STATE_PENDING:
      return {"pending", Color::kDim};
    case v1::OPERATION_STATE_RUNNING:
      return {"running", Color::kCyan};
    case v1::OPERATION_STATE_SUCCEEDED:
      return {"succeeded", Color::kGreen};
    case v1::OPERATION_STATE_FAILED:
      return {"failed", Color::kRed};
    case v1::OPERATION_STATE_CANCELLED:
      return {"cancelled", Color::kYellow};
    default:
      return {"unknown"};
  }
}

bool IsFinished(v1::OperationState state) {
  return state == v1::OPERATION_STATE_SUCCEEDED || state == v1::OPERATION_STATE_FAILED ||
         state == v1::OPERATION_STATE_CANCELLED;
}

std::string RenderOperations(const v1::ListOperationsResponse& response, const Style& style) {
  if (response.operations().empty()) return "No operations.\n";
  Table table({"ID", "KIND", "TARGET", "STATE", "STARTED", "PROGRESS"});
  for (const v1::Operation& operation : response.operations()) {
    table.AddRow({Cell(operation.id(), Color::kBold), operation.kind(), operation.target(),
                  StateCell(operation.state()), TimeOfDay(operation.created_at()),
                  ProgressCell(operation)});
  }
  return table.Render(style);
}

std::string RenderOperation(const v1::Operation& operation, const Style& style) {
  Table table = Table::Facts();
  table.AddRow({"id", Cell(operation.id(), Color::kBold)});
  table.AddRow({"kind", operation.kind()});
  table.AddRow({"target", operation.target()});
  table.AddRow({"state", StateCell(operation.state())});
  table.AddRow({"created", TimeOfDay(operation.created_at())});
  table.AddRow({"finished", TimeOfDay(operation.finished_at())});
  if (operation.has_progress() || operation.has_waiting_for()) {
    table.AddRow({"progress", ProgressCell(operation)});
  }
  if (operation.has_error())
    table.AddRow({"error", Cell(operation.error().message(), Color::kRed)});
  table.AddRow({"watchers", absl::StrCat(operation.watchers())});
  return table.Render(style);
}

}  // namespace llorch
