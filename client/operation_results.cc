#include "client/operation_results.h"

#include "client/render/errors.h"
#include "client/render/git_views.h"
#include "client/render/model_views.h"
#include "client/render/visible.h"
#include "client/render/worker_views.h"
#include "llorch/pool/v1/git.pb.h"
#include "llorch/pool/v1/model.pb.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

// Unpacks a Result and prints it with `render` (nothing more with --output json); exit 0.
template <typename Result>
int PrintRendered(const google::protobuf::Any& any, Session& session,
                  std::string (*render)(const Result&, const Style&)) {
  Result result;
  if (!any.UnpackTo(&result)) return kExitFailed;
  if (!session.json()) session.Print(RenderVisible(render, result, session.out_style()));
  return kExitOk;
}

}  // namespace

int PrintVerifyResult(const google::protobuf::Any& any, Session& session) {
  v1::VerifyModelResult result;
  if (!any.UnpackTo(&result)) return kExitFailed;
  if (!session.json()) {
    session.Print(RenderVisible([](const v1::VerifyModelResult& r,
                                   const Style& style) { return RenderVerifyResult(r, style); },
                                result, session.out_style()));
  }
  return result.ok() ? kExitOk : kExitFailed;
}

void PrintDownloadedModels(const v1::DownloadModelResult& result,
                           const std::vector<ModelFailure>& failed, Session& session) {
  if (session.json()) return;
  if (session.quiet()) {
    for (const v1::DownloadedModel& model : result.models()) {
      session.Print(model.local_path() + "\n");
    }
    return;
  }
  session.Print(
      RenderVisible([&](const v1::DownloadModelResult& r,
                        const Style& style) { return RenderDownloadResult(r, style, failed); },
                    result, session.out_style()));
}

int PrintDownloadResult(const google::protobuf::Any& any, Session& session) {
  v1::DownloadModelResult result;
  if (!any.UnpackTo(&result)) return kExitFailed;
  PrintDownloadedModels(result, {}, session);
  return kExitOk;
}

int PrintOperationResult(const google::protobuf::Any& result, Session& session) {
  if (result.Is<v1::VerifyModelResult>()) return PrintVerifyResult(result, session);
  if (result.Is<v1::DownloadModelResult>()) return PrintDownloadResult(result, session);
  if (result.Is<v1::GitPullResult>()) return PrintRendered(result, session, RenderPullResult);
  if (result.Is<v1::GitSyncResult>()) return PrintRendered(result, session, RenderSyncResult);
  if (result.Is<v1::SubmoduleUpdateResult>()) {
    return PrintRendered(result, session, RenderSubmoduleUpdate);
  }
  if (result.Is<v1::SpawnWorkerResult>()) {
    return PrintRendered(result, session, RenderSpawnResult);
  }
  if (result.Is<v1::StopWorkerResult>()) {
    v1::StopWorkerResult stop;
    if (!result.UnpackTo(&stop)) return kExitFailed;
    if (!session.json()) session.Print(RenderVisible(RenderStopResult, stop, session.out_style()));
    return stop.all_stopped() ? kExitOk : kExitFailed;
  }
  if (!session.json()) session.PrintJson(result);
  return kExitOk;
}

}  // namespace llorch
