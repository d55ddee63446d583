// `llorch-pool worker ...`: inference worker processes.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/cli.h"
#include "client/completion.h"
#include "client/interrupt.h"
#include "client/operation_stream.h"
#include "client/output.h"
#include "client/render/json.h"
#include "client/render/visible.h"
#include "client/render/worker_views.h"
#include "client/unary_call.h"
#include "llorch/pool/v1/worker.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;
using Stub = v1::WorkerService::Stub;

struct SpawnFlags {
  std::string backend;
  std::string model;
  unsigned gpu = 0;
  unsigned port = 0;
  std::string worker_id;
  bool wait = true;
  unsigned timeout_seconds = 0;
  std::string restart = "no";
};

struct StopFlags {
  std::vector<std::string> ids;
  std::vector<int64_t> pids;
  bool all = false;
  unsigned timeout_seconds = 0;
};

// `worker logs`: the worker's lines on stdout as they are (with --output json, each LogLine as
// one JSON line), the agent's own note (the worker exited, and how) on stderr. Ctrl-C ends it
// (exit 130), and so does a closed stdout (`| head`).
int ShowWorkerLogs(Session& s, const v1::GetWorkerLogsRequest& request) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.Channel();
  if (!channel.ok()) return s.Fail(channel.status());
  // The lines there are: a unary call's deadline. Following takes as long as the worker runs:
  // none (the channel's keepalive notices an agent gone).
  std::unique_ptr<grpc::ClientContext> call =
      request.follow() ? std::make_unique<grpc::ClientContext>() : s.NewCallContext();
  grpc::ClientContext& context = *call;
  InterruptWatch interrupt([&context] { context.TryCancel(); });
  auto reader = v1::WorkerService::NewStub(*channel)->GetWorkerLogs(&context, request);
  v1::LogLine line;
  while (reader->Read(&line)) {
    if (s.json()) {
      s.Print(ToJsonLine(line) + "\n");
    } else if (line.stream() == v1::LogLine::STREAM_AGENT) {
      FlushOutput();
      if (!s.quiet()) {
        std::fprintf(stderr, "%s\n",
                     s.err_style().Paint(Visible(line.text()), Color::kDim).c_str());
      }
    } else {
      s.Print(VisibleLines(line.text()) + "\n");
    }
    if (request.follow() && !FlushOutput()) context.TryCancel();
  }
  const grpc::Status status = reader->Finish();
  if (InterruptWatch::Interrupted()) return kExitInterrupted;
  if (status.error_code() == grpc::StatusCode::CANCELLED) return kExitOk;  // stdout closed
  return status.ok() ? kExitOk : s.Fail(status);
}

}  // namespace

void AddWorkerCommands(CommandLine& cli) {
  CLI::App* worker = cli.AddGroup(&cli.app(), "worker", "Inference worker processes",
                                  "  llorch-pool worker spawn metal --model tinyllama --gpu 0\n"
                                  "  llorch-pool worker list\n"
                                  "  llorch-pool worker stop worker-metal-0\n");

  auto spawn_flags = std::make_shared<SpawnFlags>();
  CLI::App* spawn = cli.AddCommand(
      worker, "spawn", "Start a worker for a downloaded, verified model and wait until it is ready",
      "  llorch-pool worker spawn cpu --model qwen\n"
      "  llorch-pool worker spawn cuda --model llama3 --gpu 1 --port 8002 --timeout 600\n"
      "  llorch-pool worker spawn cpu --model qwen --id qwen-a --no-wait   (with pool-agent)\n"
      "  llorch-pool worker spawn cuda --model llama3 --restart on-failure  (with pool-agent)\n"
      "Prints the worker's id, PID, port and log file, and how long it took to be ready.\n"
      "The worker runs on after this command exits; its log is in the agent's state directory.\n",
      [spawn_flags](Session& s) {
        v1::SpawnWorkerRequest request;
        request.set_backend(spawn_flags->backend == "cpu"    ? v1::BACKEND_CPU
                            : spawn_flags->backend == "cuda" ? v1::BACKEND_CUDA
                                                             : v1::BACKEND_METAL);
        request.set_model_id(spawn_flags->model);
        request.set_gpu(spawn_flags->gpu);
        request.set_port(spawn_flags->port);
        request.set_worker_id(spawn_flags->worker_id);
        request.set_wait_ready(spawn_flags->wait);
        request.set_restart(spawn_flags->restart == "on-failure" ? v1::RESTART_POLICY_ON_FAILURE
                                                                 : v1::RESTART_POLICY_NO);
        if (spawn_flags->timeout_seconds > 0) {
          request.mutable_ready_timeout()->set_seconds(spawn_flags->timeout_seconds);
        }
        return RunOperation<v1::WorkerService>(s, &v1::WorkerService::Stub::SpawnWorker, request);
      });
  cli.AllowDetach(spawn);
  spawn->add_option("backend", spawn_flags->backend, "cpu, cuda or metal")
      ->required()
      ->check(CLI::IsMember({"cpu", "cuda", "metal"}));
  spawn->add_option("--model", spawn_flags->model,
                    "Catalog model id, downloaded and verified (default: workers.default_model)");
  spawn->add_option("--gpu", spawn_flags->gpu, "GPU index (cuda, metal)")
      ->check(CLI::Range(0, 255));
  spawn
      ->add_option("--port", spawn_flags->port,
                   "HTTP port, 1024-65535 (default: the first free one of workers.port_first.."
                   "port_last)")
      ->check(CLI::Range(1024, 65535));
  spawn->add_option("--id", spawn_flags->worker_id, "Worker id (default: worker-<backend>-<gpu>)");
  spawn->add_flag("--wait,!--no-wait", spawn_flags->wait,
                  "Wait until the worker is ready (default), or return once it runs");
  spawn
      ->add_option("--timeout", spawn_flags->timeout_seconds,
                   "Seconds to wait for readiness (default: workers.ready_timeout_seconds)")
      ->check(CLI::Range(1, 86400));
  spawn
      ->add_option("--restart", spawn_flags->restart,
                   "no, or on-failure: pool-agent starts it again after a non-zero exit or a "
                   "signal, with a growing delay, until workers.start_limit_burst")
      ->check(CLI::IsMember({"no", "on-failure"}));

  auto stop_flags = std::make_shared<StopFlags>();
  CLI::App* stop = cli.AddCommand(
      worker, "stop",
      "Stop workers gracefully: SIGINT to the worker's process group, SIGKILL after the timeout",
      "  llorch-pool worker stop worker-metal-0\n"
      "  llorch-pool worker stop worker-cpu-0 worker-cpu-1 --timeout 5\n"
      "  llorch-pool worker stop --all\n"
      "  llorch-pool worker stop --pid 4242     (an unmanaged worker `worker list` shows)\n"
      "  llorch-pool worker stop --all -o json\n"
      "Before any signal the process is checked to be the one recorded (pid, start time,\n"
      "executable): a pid now used by another process is never signalled. Prints one line per\n"
      "worker: how it ended, and for CUDA whether its GPU memory came back. Exits 1 if any\n"
      "worker could not be stopped.\n",
      [stop_flags](Session& s) {
        v1::StopWorkerRequest request;
        for (const std::string& id : stop_flags->ids) request.add_ids(id);
        for (int64_t pid : stop_flags->pids) request.add_pids(pid);
        request.set_all(stop_flags->all);
        if (stop_flags->timeout_seconds > 0) {
          request.mutable_timeout()->set_seconds(stop_flags->timeout_seconds);
        }
        // The result (operation_results.h): one line per worker, exit 1 if one was not stopped.
        return RunOperation<v1::WorkerService>(s, &Stub::StopWorker, request);
      });
  stop->add_option("ids", stop_flags->ids, "Worker ids");
  cli.AllowDetach(stop);
  stop->add_flag("--all", stop_flags->all, "Every running worker this agent records")
      ->excludes(stop->get_option("ids"));
  stop->add_option("--pid", stop_flags->pids,
                   "Pid of a worker process, e.g. an unmanaged one (repeatable)")
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 22));
  stop->add_option("--timeout", stop_flags->timeout_seconds,
                   "Seconds from SIGINT to SIGKILL (default: workers.stop_timeout_seconds, 30)")
      ->check(CLI::Range(1, 3600));

  auto list_all = std::make_shared<bool>(false);
  CLI::App* list = cli.AddCommand(
      worker, "list", "Workers of this host: id, backend, model, GPU, port, PID, uptime, state",
      "  llorch-pool worker list\n"
      "  llorch-pool worker list --all -o wide   (also exited, failed and lost ones; restarts, "
      "URI, log)\n"
      "  llorch-pool worker list -o json\n",
      [list_all](Session& s) {
        v1::ListWorkersRequest request;
        request.set_include_exited(*list_all);
        const bool wide = s.wide();
        return CallUnary<v1::WorkerService>(
            s, &Stub::ListWorkers, request,
            Renderer<v1::ListWorkersResponse>(
                [wide](const v1::ListWorkersResponse& response, const Style& style) {
                  return RenderWorkers(response, style, wide);
                }));
      });
  list->add_flag("-a,--all", *list_all, "Also workers that exited, failed or were lost");

  auto logs_request = std::make_shared<v1::GetWorkerLogsRequest>();
  CLI::App* logs = cli.AddCommand(
      worker, "logs", "A worker's log: the last lines, and with -f new ones as they come",
      "  llorch-pool worker logs worker-metal-0\n"
      "  llorch-pool worker logs worker-metal-0 --tail 100\n"
      "  llorch-pool worker logs worker-metal-0 -f --tail 10   (until it exits or Ctrl-C)\n"
      "  llorch-pool worker logs worker-metal-0 -o json        (one LogLine per line)\n"
      "The lines are the worker's own JSON lines. A log over workers.log_max_bytes is rotated\n"
      "to <id>.log.1 ... <id>.log.N (workers.log_max_files) in the agent's state directory, and\n"
      "so is the previous worker's log when a worker of the same id is spawned again; --follow\n"
      "continues across a rotation.\n",
      [logs_request](Session& s) { return ShowWorkerLogs(s, *logs_request); });
  logs->add_option_function<std::string>(
          "id", [logs_request](const std::string& id) { logs_request->set_id(id); }, "Worker id")
      ->required();
  logs->add_flag_function(
      "-f,--follow", [logs_request](int64_t count) { logs_request->set_follow(count > 0); },
      "Keep printing new lines until the worker exits (or Ctrl-C)");
  logs->add_option_function<uint32_t>(
      "--tail", [logs_request](const uint32_t& lines) { logs_request->set_tail_lines(lines); },
      "Start with the last N lines, at most 1000000 (default: the whole log)");
  for (const char* command : {"logs", "stop"}) {
    cli.CompleteWith(worker->get_subcommand(command), WorkerIdCandidates);
  }
}

}  // namespace llorch
