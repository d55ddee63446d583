// WorkerService: the gRPC adapter over WorkerManager (worker_manager.h). Thin: it validates the
// request (worker_requests.h), runs a spawn as a "worker.spawn" operation (the manager's checks
// come first in it, so a retried request_id finds the operation it started), a stop as a
// "worker.stop" operation (unknown ids refused before it starts), lists from the state files
// and /proc, streams logs (worker_logs.h), and translates results and errors.
#ifndef LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_
#define LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_

#include <filesystem>
#include <memory>

#include "agent/models/catalog.h"
#include "agent/ops/operation_registry.h"
#include "agent/workers/worker_manager.h"
#include "agent/workers/worker_settings.h"
#include "llorch/pool/v1/worker.grpc.pb.h"

namespace llorch {

class WorkerServiceImpl final : public pool::v1::WorkerService::Service {
 public:
  WorkerServiceImpl(WorkerSettings settings, std::shared_ptr<const Catalog> catalog,
                    std::filesystem::path models_dir, std::shared_ptr<OperationRegistry> operations,
                    std::shared_ptr<EventBus> events);

  // The workers themselves, e.g. for the check that a model in use is not deleted.
  const std::shared_ptr<WorkerManager>& manager() const { return manager_; }

  grpc::Status SpawnWorker(grpc::ServerContext*, const pool::v1::SpawnWorkerRequest*,
                           grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status StopWorker(grpc::ServerContext*, const pool::v1::StopWorkerRequest*,
                          grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const pool::v1::ListWorkersRequest*,
                           pool::v1::ListWorkersResponse*) override;
  grpc::Status GetWorkerLogs(grpc::ServerContext*, const pool::v1::GetWorkerLogsRequest*,
                             grpc::ServerWriter<pool::v1::LogLine>*) override;

 private:
  const std::filesystem::path state_dir_;
  std::shared_ptr<OperationRegistry> operations_;
  std::shared_ptr<WorkerManager> manager_;  // shared with the operations' threads
};

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_
