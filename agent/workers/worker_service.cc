#include "agent/workers/worker_service.h"

#include "agent/rpc/grpc_status.h"

namespace llorch {
namespace v1 = pool::v1;

grpc::Status WorkerServiceImpl::SpawnWorker(grpc::ServerContext*, const v1::SpawnWorkerRequest*,
                                            grpc::ServerWriter<v1::OperationEvent>*) {
  return NotAvailableYet("worker spawn");
}

grpc::Status WorkerServiceImpl::StopWorker(grpc::ServerContext*, const v1::StopWorkerRequest*,
                                           v1::Worker*) {
  return NotAvailableYet("worker stop");
}

grpc::Status WorkerServiceImpl::ListWorkers(grpc::ServerContext*, const v1::ListWorkersRequest*,
                                            v1::ListWorkersResponse*) {
  return NotAvailableYet("worker list");
}

grpc::Status WorkerServiceImpl::GetWorkerLogs(grpc::ServerContext*, const v1::GetWorkerLogsRequest*,
                                              grpc::ServerWriter<v1::LogLine>*) {
  return NotAvailableYet("worker logs");
}

}  // namespace llorch
