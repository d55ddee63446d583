// WorkerService: inference worker processes. Part of the v1 API now; every RPC answers
// UNIMPLEMENTED naming its command until the release that delivers it.
#ifndef LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_
#define LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_

#include "llorch/pool/v1/worker.grpc.pb.h"

namespace llorch {

class WorkerServiceImpl final : public pool::v1::WorkerService::Service {
 public:
  grpc::Status SpawnWorker(grpc::ServerContext*, const pool::v1::SpawnWorkerRequest*,
                           grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status StopWorker(grpc::ServerContext*, const pool::v1::StopWorkerRequest*,
                          pool::v1::Worker*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const pool::v1::ListWorkersRequest*,
                           pool::v1::ListWorkersResponse*) override;
  grpc::Status GetWorkerLogs(grpc::ServerContext*, const pool::v1::GetWorkerLogsRequest*,
                             grpc::ServerWriter<pool::v1::LogLine>*) override;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_
