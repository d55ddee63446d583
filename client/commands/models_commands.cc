// `llorch-pool models ...`: the catalog and the model store.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/confirm.h"
#include "client/operation_results.h"
#include "client/operation_stream.h"
#include "client/render/model_views.h"
#include "client/render/visible.h"
#include "client/unary_call.h"
#include "common/status.h"
#include "common/units.h"
#include "llorch/pool/v1/model.grpc.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

using Stub = v1::ModelService::Stub;

// `models delete`: show what goes, ask unless --force, then delete.
int RunDelete(Session& session, const std::string& id, bool force) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  auto stub = v1::ModelService::NewStub(*channel);
  v1::DeleteModelRequest request;
  request.set_id(id);
  request.set_dry_run(true);
  v1::DeleteModelResponse plan;
  grpc::Status status = stub->DeleteModel(session.NewCallContext().get(), request, &plan);
  if (!status.ok()) return session.Fail(status);
  if (plan.removed().empty()) {
    if (session.json()) {
      session.PrintJson(plan);
    } else {
      session.Print(absl::StrCat("Nothing of ", id, " is on disk.\n"));
    }
    return kExitOk;
  }
  if (!force) {
    if (isatty(STDIN_FILENO)) {
      std::fputs(RenderVisible(RenderDeletedFiles, plan, session.err_style()).c_str(), stderr);
    }
    absl::StatusOr<bool> yes =
        Confirm(absl::StrCat("Delete these files of ", id, "?"),
                absl::StrCat("delete ", id, " (", FormatBytes(plan.freed_bytes()), ")"),
                absl::StrCat("llorch-pool models delete ", id, " --force"));
    if (!yes.ok()) return session.Fail(yes.status());
    if (!*yes) {
      std::fputs("Nothing deleted.\n", stderr);
      return kExitFailed;
    }
  }
  request.set_dry_run(false);
  v1::DeleteModelResponse deleted;
  status = stub->DeleteModel(session.NewCallContext().get(), request, &deleted);
  if (!status.ok()) return session.Fail(status);
  if (session.json()) {
    session.PrintJson(deleted);
  } else {
    session.Print(absl::StrCat("Deleted ", id, ": ", deleted.removed_size(),
                               deleted.removed_size() == 1 ? " file, " : " files, ",
                               FormatBytes(deleted.freed_bytes()), " freed.\n"));
  }
  return kExitOk;
}

}  // namespace

void AddModelsCommands(CommandLine& cli) {
  CLI::App* models = cli.AddGroup(&cli.app(), "models", "Model catalog and model files on disk",
                                  "  llorch-pool models catalog\n"
                                  "  llorch-pool models download tinyllama\n"
                                  "  llorch-pool models verify --all\n");

  auto catalog_ids = std::make_shared<std::vector<std::string>>();
  CLI::App* catalog = cli.AddCommand(
      models, "catalog", "Every model the catalog knows: Hub repo, size, download status",
      "  llorch-pool models catalog                 all models as a table\n"
      "  llorch-pool models catalog qwen qwen-fp16  only these\n"
      "  llorch-pool models catalog -o json         for scripts (the ListCatalog response)\n",
      [catalog_ids](Session& s) {
        v1::ListCatalogRequest request;
        for (const std::string& id : *catalog_ids) request.add_ids(id);
        return CallUnary<v1::ModelService>(s, &v1::ModelService::Stub::ListCatalog, request,
                                           Renderer<v1::ListCatalogResponse>(RenderCatalog));
      });
  catalog->add_option("ids", *catalog_ids, "Model ids to show (default: all)");

  cli.AddCommand(models, "list", "Downloaded and partial models, their files and sizes",
                 "  llorch-pool models list\n", [](Session& s) {
                   return CallUnary<v1::ModelService>(
                       s, &Stub::ListModels, v1::ListModelsRequest(),
                       Renderer<v1::ListModelsResponse>(RenderModelList));
                 });

  auto info_id = std::make_shared<std::string>();
  CLI::App* info = cli.AddCommand(
      models, "info", "Catalog data, local files, manifest and GGUF metadata of one model",
      "  llorch-pool models info tinyllama\n", [info_id](Session& s) {
        v1::GetModelInfoRequest request;
        request.set_id(*info_id);
        return CallUnary<v1::ModelService>(s, &Stub::GetModelInfo, request,
                                           Renderer<v1::ModelInfo>(RenderModelInfo));
      });
  info->add_option("id", *info_id, "Model id")->required();

  auto download_ids = std::make_shared<std::vector<std::string>>();
  auto download_force = std::make_shared<bool>(false);
  CLI::App* download_cmd = cli.AddCommand(
      models, "download", "Download models from the Hub (converting where needed), verified",
      "  llorch-pool models download tinyllama\n"
      "  llorch-pool models download qwen qwen-fp16\n"
      "  llorch-pool models download gpt2 --force   download and convert again\n"
      "  HF_TOKEN=hf_... llorch-pool models download llama3   a gated model\n"
      "\n"
      "Interrupted downloads resume where they stopped (also after a crash); the file is\n"
      "installed only when its SHA-256 matches the Hub's. HF_ENDPOINT, HF_TOKEN and\n"
      "HF_HUB_OFFLINE work as for the hf CLI; download.* in pool.toml tunes connections,\n"
      "retries and the backend (docs/configuration.md).\n",
      [download_ids, download_force](Session& s) {
        v1::DownloadModelRequest request;
        for (const std::string& id : *download_ids) request.add_ids(id);
        request.set_force(*download_force);
        return RunOperation<v1::ModelService>(s, &Stub::DownloadModel, request,
                                              PrintDownloadResult);
      });
  download_cmd->add_option("ids", *download_ids, "Model ids")->required();
  download_cmd->add_flag("--force", *download_force,
                         "Download again even if already downloaded and verified");

  auto verify_ids = std::make_shared<std::vector<std::string>>();
  auto verify_all = std::make_shared<bool>(false);
  CLI::App* verify = cli.AddCommand(
      models, "verify", "Check sizes, SHA-256 hashes and GGUF headers of downloaded models",
      "  llorch-pool models verify tinyllama\n"
      "  llorch-pool models verify --all\n",
      [verify_ids, verify_all](Session& s) {
        if (verify_ids->empty() && !*verify_all) {
          return s.Fail(absl::InvalidArgumentError("say which models: IDs or --all"));
        }
        v1::VerifyModelRequest request;
        for (const std::string& id : *verify_ids) request.add_ids(id);
        request.set_all(*verify_all);
        return RunOperation<v1::ModelService>(s, &Stub::VerifyModel, request, PrintVerifyResult);
      });
  auto verify_ids_option = verify->add_option("ids", *verify_ids, "Model ids");
  verify->add_flag("--all", *verify_all, "Verify every model on disk")->excludes(verify_ids_option);

  auto delete_id = std::make_shared<std::string>();
  auto delete_force = std::make_shared<bool>(false);
  CLI::App* remove = cli.AddCommand(
      models, "delete", "Remove one model's files (asks first unless --force)",
      "  llorch-pool models delete phi3\n"
      "  llorch-pool models delete phi3 --force\n",
      [delete_id, delete_force](Session& s) { return RunDelete(s, *delete_id, *delete_force); });
  remove->add_option("id", *delete_id, "Model id")->required();
  remove->add_flag("--force", *delete_force, "Do not ask for confirmation");

  for (const CLI::App* command : {catalog, info, download_cmd, verify, remove}) {
    cli.CompleteWith(command, ModelIdCandidates);
  }

  cli.AddCommand(models, "du", "Disk usage per model, total, and free space",
                 "  llorch-pool models du\n", [](Session& s) {
                   return CallUnary<v1::ModelService>(
                       s, &Stub::GetDiskUsage, v1::GetDiskUsageRequest(),
                       Renderer<v1::GetDiskUsageResponse>(RenderDiskUsage));
                 });
}

}  // namespace llorch
