// `llorch-pool worker ...`: inference worker processes.
#include <memory>
#include <string>

#include "client/cli.h"
#include "client/operation_stream.h"
#include "client/render/visible.h"
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
  bool wait = false;
};

}  // namespace

void AddWorkerCommands(CommandLine& cli) {
  CLI::App* worker = cli.AddGroup(&cli.app(), "worker", "Inference worker processes",
                                  "  llorch-pool worker spawn metal --model tinyllama --gpu 0\n"
                                  "  llorch-pool worker list\n"
                                  "  llorch-pool worker stop worker-metal-0\n");

  auto spawn_flags = std::make_shared<SpawnFlags>();
  CLI::App* spawn = cli.AddCommand(
      worker, "spawn", "Start a worker for a downloaded model",
      "  llorch-pool worker spawn cpu --model qwen --port 8001\n"
      "  llorch-pool worker spawn cuda --model llama3 --gpu 1 --wait\n",
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
        return RunOperation<v1::WorkerService>(s, &v1::WorkerService::Stub::SpawnWorker, request);
      });
  spawn->add_option("backend", spawn_flags->backend, "cpu, cuda or metal")
      ->required()
      ->check(CLI::IsMember({"cpu", "cuda", "metal"}));
  spawn->add_option("--model", spawn_flags->model, "Catalog model id (must be downloaded)");
  spawn->add_option("--gpu", spawn_flags->gpu, "GPU index")->check(CLI::Range(0, 255));
  spawn->add_option("--port", spawn_flags->port, "HTTP port, 1024-65535 (default: first free)")
      ->check(CLI::Range(1024, 65535));
  spawn->add_option("--worker-id", spawn_flags->worker_id,
                    "Worker id (default: worker-<backend>-<gpu>)");
  spawn->add_flag("--wait", spawn_flags->wait, "Wait until the worker calls back ready");

  auto stop_id = std::make_shared<std::string>();
  CLI::App* stop = cli.AddCommand(
      worker, "stop", "Stop a worker gracefully (SIGINT, then SIGKILL after a timeout)",
      "  llorch-pool worker stop worker-metal-0\n", [stop_id](Session& s) {
        v1::StopWorkerRequest request;
        request.set_id(*stop_id);
        return CallUnary<v1::WorkerService>(s, &Stub::StopWorker, request);
      });
  stop->add_option("id", *stop_id, "Worker id")->required();

  cli.AddCommand(worker, "list", "Running workers: id, backend, model, GPU, port, PID, uptime",
                 "  llorch-pool worker list\n", [](Session& s) {
                   return CallUnary<v1::WorkerService>(s, &Stub::ListWorkers,
                                                       v1::ListWorkersRequest());
                 });

  auto logs_id = std::make_shared<std::string>();
  auto logs_follow = std::make_shared<bool>(false);
  auto logs_tail = std::make_shared<unsigned>(0);
  CLI::App* logs = cli.AddCommand(
      worker, "logs", "A worker's log",
      "  llorch-pool worker logs worker-metal-0 --tail 100\n"
      "  llorch-pool worker logs worker-metal-0 --follow\n",
      [logs_id, logs_follow, logs_tail](Session& s) {
        absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.Channel();
        if (!channel.ok()) return s.Fail(channel.status());
        v1::GetWorkerLogsRequest request;
        request.set_id(*logs_id);
        request.set_follow(*logs_follow);
        request.set_tail_lines(*logs_tail);
        grpc::ClientContext context;
        auto reader = v1::WorkerService::NewStub(*channel)->GetWorkerLogs(&context, request);
        v1::LogLine line;
        while (reader->Read(&line)) s.Print(VisibleLines(line.text()) + "\n");
        grpc::Status status = reader->Finish();
        return status.ok() ? kExitOk : s.Fail(status);
      });
  logs->add_option("id", *logs_id, "Worker id")->required();
  logs->add_flag("-f,--follow", *logs_follow, "Keep printing new lines");
  logs->add_option("--tail", *logs_tail, "Start with the last N lines");
}

}  // namespace llorch
