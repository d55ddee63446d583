#include "client/operation_results.h"

#include "client/render/errors.h"
#include "client/render/model_views.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {
namespace v1 = pool::v1;

int PrintVerifyResult(const google::protobuf::Any& any, Session& session) {
  v1::VerifyModelResult result;
  if (!any.UnpackTo(&result)) return kExitFailed;
  if (!session.json()) session.Print(RenderVerifyResult(result, session.out_style()));
  return result.ok() ? kExitOk : kExitFailed;
}

int PrintDownloadResult(const google::protobuf::Any& any, Session& session) {
  v1::DownloadModelResult result;
  if (!any.UnpackTo(&result)) return kExitFailed;
  if (!session.json()) session.Print(RenderDownloadResult(result, session.out_style()));
  return kExitOk;
}

int PrintOperationResult(const google::protobuf::Any& result, Session& session) {
  if (result.Is<v1::VerifyModelResult>()) return PrintVerifyResult(result, session);
  if (result.Is<v1::DownloadModelResult>()) return PrintDownloadResult(result, session);
  if (!session.json()) session.PrintJson(result);
  return kExitOk;
}

}  // namespace llorch
