// Table renderings of WorkerService responses and results for `llorch-pool worker ...`.
#ifndef LLORCH_CLIENT_RENDER_WORKER_VIEWS_H_
#define LLORCH_CLIENT_RENDER_WORKER_VIEWS_H_

#include <string>

#include "client/render/style.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {

// "cpu", "cuda", "metal": the enum value's name without its prefix.
std::string BackendText(pool::v1::Backend backend);

// "ready", "starting", "failed (exit 3)", "lost", ...
std::string WorkerStateText(const pool::v1::Worker& worker);
// One row per worker: id, backend, model, GPU, port, PID, uptime, state; `wide` adds the URI,
// VRAM and log path.
std::string RenderWorkers(const pool::v1::ListWorkersResponse& response, const Style& style,
                          bool wide);
// The worker started: id, PID, port, URI, log, and the time to ready when it was waited for.
std::string RenderSpawnResult(const pool::v1::SpawnWorkerResult& result, const Style& style);

// One line per target: "stopped worker-cpu-0 (pid 4242): exited on SIGINT after 0.4s (exit code
// 0)", or "not stopped: pid 77: pid 77 runs /usr/bin/sleep, not a worker program; ..." and its
// hint.
std::string RenderStopResult(const pool::v1::StopWorkerResult& result, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_WORKER_VIEWS_H_
