// Table renderings of ModelService responses for `llorch-pool models ...`.
#ifndef LLORCH_CLIENT_RENDER_MODEL_VIEWS_H_
#define LLORCH_CLIENT_RENDER_MODEL_VIEWS_H_

#include <string>
#include <vector>

#include "client/render/style.h"
#include "llorch/pool/v1/model.pb.h"

namespace llorch {

std::string RenderCatalog(const pool::v1::ListCatalogResponse& response, const Style& style);
std::string RenderModelList(const pool::v1::ListModelsResponse& response, const Style& style);
std::string RenderDiskUsage(const pool::v1::GetDiskUsageResponse& response, const Style& style);
std::string RenderModelInfo(const pool::v1::ModelInfo& info, const Style& style);
// A model a command given several could not do, and why (the error's message, made visible).
struct ModelFailure {
  std::string id;
  std::string reason;
};

// Per file: the checks' outcome and the first problem; a row per model in `failed`; then the
// overall verdict.
std::string RenderVerifyResult(const pool::v1::VerifyModelResult& result, const Style& style,
                               const std::vector<ModelFailure>& failed = {});
// Per model: downloaded, converted, adopted or already there, with sizes, hash and path; a row
// per model in `failed`; then how many were installed and how many failed.
std::string RenderDownloadResult(const pool::v1::DownloadModelResult& result, const Style& style,
                                 const std::vector<ModelFailure>& failed = {});
// `models delete A B ...`: per model, what was removed (or that nothing was on disk, or why it
// failed), then the total freed.
std::string RenderDeleteSummary(const std::vector<pool::v1::DeleteModelResponse>& deleted,
                                const std::vector<std::string>& ids,
                                const std::vector<ModelFailure>& failed, const Style& style);
// `models lock`: per model what happened to its pin (pinned, updated, kept, unpinned, failed),
// its commit and file digest, whether the Hub moved on; then the lock file and whether it was
// written.
std::string RenderLockResult(const pool::v1::LockModelsResponse& response, const Style& style);
// The files a delete removes (or, for a dry run, would remove), with the total.
std::string RenderDeletedFiles(const pool::v1::DeleteModelResponse& response, const Style& style);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_MODEL_VIEWS_H_
