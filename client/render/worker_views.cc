#include "client/render/worker_views.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "client/render/table.h"
#include "common/units.h"

namespace llorch {
namespace v1 = pool::v1;

std::string BackendText(v1::Backend backend) {
  return absl::AsciiStrToLower(absl::StripPrefix(v1::Backend_Name(backend), "BACKEND_"));
}

namespace {

// "45s", "12m03s", "3h07m", "2d04h".
std::string Uptime(int64_t seconds) {
  if (seconds < 60) return absl::StrCat(seconds, "s");
  if (seconds < 3600) return absl::StrFormat("%dm%02ds", seconds / 60, seconds % 60);
  if (seconds < 86400) return absl::StrFormat("%dh%02dm", seconds / 3600, seconds % 3600 / 60);
  return absl::StrFormat("%dd%02dh", seconds / 86400, seconds % 86400 / 3600);
}

Color StateColor(v1::WorkerState state) {
  switch (state) {
    case v1::WORKER_STATE_READY:
      return Color::kGreen;
    case v1::WORKER_STATE_STARTING:
    case v1::WORKER_STATE_STOPPING:
      return Color::kYellow;
    case v1::WORKER_STATE_FAILED:
    case v1::WORKER_STATE_LOST:
    case v1::WORKER_STATE_UNMANAGED:
      return Color::kRed;
    default:
      return Color::kNone;
  }
}

}  // namespace

std::string WorkerStateText(const v1::Worker& worker) {
  switch (worker.state()) {
    case v1::WORKER_STATE_STARTING:
      return "starting";
    case v1::WORKER_STATE_READY:
      return "ready";
    case v1::WORKER_STATE_STOPPING:
      return "stopping";
    case v1::WORKER_STATE_EXITED:
      return worker.exit_code() >= 0 ? absl::StrCat("exited (", worker.exit_code(), ")") : "exited";
    case v1::WORKER_STATE_FAILED:
      if (worker.restart_pending()) {
        return worker.exit_code() >= 0 ? absl::StrCat("restarting (exit ", worker.exit_code(), ")")
                                       : "restarting";
      }
      return worker.exit_code() >= 0 ? absl::StrCat("failed (exit ", worker.exit_code(), ")")
                                     : "failed";
    case v1::WORKER_STATE_LOST:
      return "lost";
    case v1::WORKER_STATE_UNMANAGED:
      return "unmanaged";
    default:
      return "?";
  }
}

std::string RenderWorkers(const v1::ListWorkersResponse& response, const Style& style, bool wide) {
  if (response.workers().empty()) {
    return "No workers. Start one with `llorch-pool worker spawn cpu --model ID`.\n";
  }
  std::vector<std::string> headers = {"ID",   "BACKEND", "MODEL",  "GPU",
                                      "PORT", "PID",     "UPTIME", "STATE"};
  if (wide) headers.insert(headers.end(), {"RESTARTS", "URI", "VRAM", "LOG"});
  Table table(headers, {3, 4, 5, 6});
  for (const v1::Worker& worker : response.workers()) {
    std::vector<Cell> row = {
        Cell(worker.id().empty() ? "-" : worker.id(), Color::kBold),
        BackendText(worker.backend()),
        // An unmanaged worker has no catalog id: its --model path says what it serves.
        worker.model_id().empty() ? (worker.model_path().empty() ? "-" : worker.model_path())
                                  : worker.model_id(),
        worker.backend() == v1::BACKEND_CPU ? "-" : absl::StrCat(worker.gpu()),
        worker.port() > 0 ? absl::StrCat(worker.port()) : "-",
        worker.pid() > 0 ? absl::StrCat(worker.pid()) : "-",
        worker.has_uptime() ? Uptime(worker.uptime().seconds()) : "-",
        Cell(WorkerStateText(worker), StateColor(worker.state())),
    };
    if (wide) {
      row.insert(row.end(), {absl::StrCat(worker.restarts()), worker.uri(),
                             worker.vram_bytes() > 0 ? FormatBytes(worker.vram_bytes()) : "-",
                             worker.log_path()});
    }
    table.AddRow(std::move(row));
  }
  return table.Render(style);
}

std::string RenderStopResult(const v1::StopWorkerResult& result, const Style& style) {
  if (result.targets().empty()) return "No running workers to stop.\n";
  std::string out;
  for (const v1::WorkerStopOutcome& row : result.targets()) {
    const std::string who = row.id().empty() ? absl::StrCat("pid ", row.pid())
                                             : absl::StrCat(row.id(), " (pid ", row.pid(), ")");
    if (row.ending() == v1::WorkerStopOutcome::ENDING_UNSPECIFIED) {
      absl::StrAppend(&out, style.Paint(absl::StrCat("not stopped ", who), Color::kRed), ": ",
                      row.error().message());
      for (const google::protobuf::Any& detail : row.error().details()) {
        v1::ErrorHint hint;
        if (detail.UnpackTo(&hint) && !hint.hint().empty()) {
          absl::StrAppend(&out, " (hint: ", hint.hint(), ")");
        }
      }
      out += "\n";
      continue;
    }
    const bool clean = row.remaining().empty() &&
                       row.gpu_memory().state() != v1::GpuMemoryRelease::STATE_NOT_RELEASED;
    absl::StrAppend(
        &out, style.Paint(absl::StrCat("stopped ", who), clean ? Color::kGreen : Color::kYellow),
        ": ", row.summary(), "\n");
  }
  return out;
}

std::string RenderSpawnResult(const v1::SpawnWorkerResult& result, const Style& style) {
  const v1::Worker& worker = result.worker();
  std::string out =
      absl::StrCat(style.Paint(absl::StrCat("Worker ", worker.id(), " ", WorkerStateText(worker)),
                               StateColor(worker.state())),
                   ": pid ", worker.pid(), ", port ", worker.port(), ", ", worker.uri(), "\n");
  absl::StrAppend(&out, "log: ", worker.log_path(), "\n");
  if (result.has_time_to_ready()) {
    const double seconds = result.time_to_ready().seconds() + result.time_to_ready().nanos() / 1e9;
    absl::StrAppend(&out, "ready in ", absl::StrFormat("%.1f", seconds), " s\n");
  }
  return out;
}

}  // namespace llorch
