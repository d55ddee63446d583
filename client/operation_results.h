// How a finished operation's result is shown and which exit code it gives, by the result's type:
// the same whether the command started the operation (`models verify`) or follows it
// (`llorch-pool ops watch ID`). With --output json or jsonl RunOperation printed the result (or
// the events carried it), so nothing more is printed, but the exit code still says whether the
// work found problems.
#ifndef LLORCH_CLIENT_OPERATION_RESULTS_H_
#define LLORCH_CLIENT_OPERATION_RESULTS_H_

#include <google/protobuf/any.pb.h>

#include <vector>

#include "client/render/model_views.h"
#include "client/session.h"

namespace llorch {

// A VerifyModelResult as a table; exit 1 when any file failed its checks.
int PrintVerifyResult(const google::protobuf::Any& result, Session& session);
// A DownloadModelResult as a table (with -q: only the installed paths, one a line); exit 0.
int PrintDownloadResult(const google::protobuf::Any& result, Session& session);
// The same for the models a download installed and those it could not (nothing with -o json).
void PrintDownloadedModels(const pool::v1::DownloadModelResult& result,
                           const std::vector<ModelFailure>& failed, Session& session);
// Any of the above, a git pull, sync or submodule update result, or a worker spawn's or stop's
// (exit 1 when a worker was not stopped), by its type; other types as JSON; exit 0 unless the
// result says a check failed.
int PrintOperationResult(const google::protobuf::Any& result, Session& session);

}  // namespace llorch

#endif  // LLORCH_CLIENT_OPERATION_RESULTS_H_
