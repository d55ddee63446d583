#include "client/render/operation_views.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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

absl::Time TimeOf(const google::protobuf::Timestamp& time) {
  return absl::FromUnixSeconds(time.seconds()) + absl::Nanoseconds(time.nanos());
}

// Who started it: what its client said, else the peer; "-" when neither is known.
std::string StartedBy(const v1::Operation& operation) {
  if (!operation.started_by().empty()) return operation.started_by();
  if (!operation.started_by_peer().empty()) return operation.started_by_peer();
  return "-";
}

}  // namespace

std::string TimeOfDay(const google::protobuf::Timestamp& time) {
  if (time.seconds() == 0) return "-";
  return absl::FormatTime("%H:%M:%S", absl::FromUnixSeconds(time.seconds()), absl::LocalTimeZone());
}

std::string StartTime(const google::protobuf::Timestamp& time, absl::Time now) {
  if (time.seconds() == 0) return "-";
  const absl::TimeZone zone = absl::LocalTimeZone();
  const absl::Time start = absl::FromUnixSeconds(time.seconds());
  const bool today =
      absl::FormatTime("%Y-%m-%d", start, zone) == absl::FormatTime("%Y-%m-%d", now, zone);
  return absl::FormatTime(today ? "%H:%M:%S" : "%b %d %H:%M", start, zone);
}

std::string Elapsed(const v1::Operation& operation, absl::Time now) {
  if (operation.created_at().seconds() == 0) return "-";
  const absl::Time end = operation.has_finished_at()
                             ? TimeOf(operation.finished_at())
                             : std::max(now, TimeOf(operation.created_at()));
  const int64_t seconds = absl::ToInt64Seconds(end - TimeOf(operation.created_at()));
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  if (seconds < 86400) return absl::StrFormat("%dh%02dm", seconds / 3600, (seconds / 60) % 60);
  return absl::StrFormat("%dd%02dh", seconds / 86400, (seconds / 3600) % 24);
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

std::string RenderOperations(const v1::ListOperationsResponse& response, const Style& style,
                             absl::Time now) {
  if (response.operations().empty()) return "No operations.\n";
  Table table({"ID", "KIND", "TARGET", "STATE", "STARTED", "ELAPSED", "PROGRESS", "STARTED BY"});
  for (const v1::Operation& operation : response.operations()) {
    table.AddRow({Cell(operation.id(), Color::kBold), operation.kind(), operation.target(),
                  StateCell(operation.state()), StartTime(operation.created_at(), now),
                  Elapsed(operation, now), ProgressCell(operation), StartedBy(operation)});
  }
  return table.Render(style);
}

std::string RenderOperation(const v1::Operation& operation, const Style& style) {
  Table table = Table::Facts();
  table.AddRow({"id", Cell(operation.id(), Color::kBold)});
  table.AddRow({"kind", operation.kind()});
  table.AddRow({"target", operation.target()});
  table.AddRow({"state", StateCell(operation.state())});
  table.AddRow({"created", StartTime(operation.created_at(), absl::Now())});
  table.AddRow({"finished", TimeOfDay(operation.finished_at())});
  table.AddRow({"elapsed", Elapsed(operation, absl::Now())});
  table.AddRow({"started by", StartedBy(operation)});
  if (!operation.started_by_peer().empty() && !operation.started_by().empty()) {
    table.AddRow({"peer", operation.started_by_peer()});
  }
  if (operation.has_progress() || operation.has_waiting_for()) {
    table.AddRow({"progress", ProgressCell(operation)});
  }
  if (operation.has_error())
    table.AddRow({"error", Cell(operation.error().message(), Color::kRed)});
  table.AddRow({"watchers", absl::StrCat(operation.watchers())});
  return table.Render(style);
}

}  // namespace llorch
