// Table renderings of ModelService responses for `llorch-pool models ...`.
#ifndef LLORCH_CLIENT_RENDER_MODEL_VIEWS_H_
#define LLORCH_CLIENT_RENDER_MODEL_VIEWS_H_

#include <string>

#include "client/render/style.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {

std::string RenderCatalog(const pool::v1::ListCatalogResponse& response, const Style& style);
std::string RenderModelList(const pool::v1::ListModelsResponse& response, const Style& style);
std::string RenderDiskUsage(const pool::v1::GetDiskUsageResponse& response, const Style& style);
std::string RenderModelInfo(const pool::v1::ModelInfo& info, const Style& style);
// Per file: the checks' outcome and the first problem; then the overall verdict.
std::string RenderVerifyResult(const pool::v1::VerifyModelResult& result, const Style& style);
// Per model: downloaded, converted or already there, with sizes, hash and path.
std::string RenderDownloadResult(const pool::v1::DownloadModelResult& result, const Style& style);
// The files a delete removes (or, for a dry run, would remove), with the total.
std::string RenderDeletedFiles(const pool::v1::DeleteModelResponse& response, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_MODEL_VIEWS_H_
