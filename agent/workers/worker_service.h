// WorkerService: inference worker processes. Part of the v1 API now; every RPC answers
// UNIMPLEMENTED naming its command until the release that delivers it.
#ifndef LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_
#define LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_

#include <memory>

#include "agent/server/agent_context.h"
#include "llorch/pool/v1/worker.grpc.pb.h"

namespace llorch {

class WorkerServiceImpl final : public pool::v1::WorkerService::Service {
 public:
  explicit WorkerServiceImpl(std::shared_ptr<const AgentContext> context)
      : context_(std::move(context)) {}

  grpc::Status SpawnWorker(grpc::ServerContext*, const pool::v1::SpawnWorkerRequest*,
                           grpc::ServerWriter<pool::v1::OperationEvent>*) override;
  grpc::Status StopWorker(grpc::ServerContext*, const pool::v1::StopWorkerRequest*,
                          pool::v1::Worker*) override;
  grpc::Status ListWorkers(grpc::ServerContext*, const pool::v1::ListWorkersRequest*,
                           pool::v1::ListWorkersResponse*) override;
  grpc::Status GetWorkerLogs(grpc::ServerContext*, const pool::v1::GetWorkerLogsRequest*,
                             grpc::ServerWriter<pool::v1::LogLine>*) override;

 private:
  std::shared_ptr<const AgentContext> context_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_SERVICE_H_
