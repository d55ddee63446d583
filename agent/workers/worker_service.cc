#include "agent/workers/worker_service.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/ops/operation_stream.h"
#include "agent/rpc/grpc_status.h"
#include "agent/rpc/stream_admission.h"
#include "agent/workers/worker_logs.h"
#include "agent/workers/worker_requests.h"

namespace llorch {
namespace v1 = pool::v1;

WorkerServiceImpl::WorkerServiceImpl(WorkerSettings settings,
                                     std::shared_ptr<const Catalog> catalog,
                                     std::filesystem::path models_dir,
                                     std::shared_ptr<OperationRegistry> operations,
                                     std::shared_ptr<EventBus> events)
    : state_dir_(settings.state_dir),
      operations_(std::move(operations)),
      manager_(std::make_shared<WorkerManager>(std::move(settings), std::move(catalog),
                                               std::move(models_dir), std::move(events))) {}

grpc::Status WorkerServiceImpl::SpawnWorker(grpc::ServerContext* server_context,
                                            const v1::SpawnWorkerRequest* request,
                                            grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  const std::string id =
      request->worker_id().empty()
          ? absl::StrCat("worker-", BackendName(request->backend()), "-",
                         request->backend() == v1::BACKEND_CPU ? 0 : request->gpu())
          : request->worker_id();
  return StartAndStream(
      *operations_, *request, "worker.spawn", id, absl::StrCat("worker.spawn:", id),
      [manager = manager_, request = *request](Operation& op) {
        absl::StatusOr<WorkerManager::SpawnPlan> plan = manager->Plan(request);
        absl::StatusOr<v1::SpawnWorkerResult> result =
            plan.ok() ? manager->Spawn(*plan, op)
                      : absl::StatusOr<v1::SpawnWorkerResult>(plan.status());
        if (result.ok()) {
          op.Succeed(*result);
        } else {
          op.Fail(result.status());
        }
      },
      server_context, writer);
}

grpc::Status WorkerServiceImpl::StopWorker(grpc::ServerContext* server_context,
                                           const v1::StopWorkerRequest* request,
                                           grpc::ServerWriter<v1::OperationEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  if (absl::Status known = manager_->CheckStopTargets(*request); !known.ok()) {
    return ToGrpcStatus(known);
  }
  // The target as `ops list` shows it, and the join key: the same targets, timeout aside, are
  // the same work.
  std::set<std::string> ids(request->ids().begin(), request->ids().end());
  std::set<int64_t> pids(request->pids().begin(), request->pids().end());
  std::string target = request->all() ? "all" : absl::StrJoin(ids, ",");
  if (!pids.empty()) {
    absl::StrAppend(&target, target.empty() ? "" : ",", "pid ", absl::StrJoin(pids, ",pid "));
  }
  return StartAndStream(
      *operations_, *request, "worker.stop", target, absl::StrCat("worker.stop:", target),
      [manager = manager_, request = *request](Operation& op) {
        absl::StatusOr<v1::StopWorkerResult> result = manager->Stop(request, op);
        if (result.ok()) {
          op.Succeed(*result);
        } else {
          op.Fail(result.status());
        }
      },
      server_context, writer);
}

grpc::Status WorkerServiceImpl::ListWorkers(grpc::ServerContext*,
                                            const v1::ListWorkersRequest* request,
                                            v1::ListWorkersResponse* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  absl::StatusOr<std::vector<v1::Worker>> workers = manager_->List(request->include_exited());
  if (!workers.ok()) return ToGrpcStatus(workers.status());
  for (v1::Worker& worker : *workers) *response->add_workers() = std::move(worker);
  return grpc::Status::OK;
}

grpc::Status WorkerServiceImpl::GetWorkerLogs(grpc::ServerContext* context,
                                              const v1::GetWorkerLogsRequest* request,
                                              grpc::ServerWriter<v1::LogLine>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  if (absl::Status admitted = CheckStreamAdmitted(*context); !admitted.ok()) {
    return ToGrpcStatus(admitted);
  }
  return ToGrpcStatus(StreamWorkerLog(
      state_dir_, *request, [context] { return context->IsCancelled(); },
      [writer](const v1::LogLine& line) { return writer->Write(line); }));
}

}  // namespace llorch
