// `llorch-pool models ...`: the catalog and the model store.
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/operation_stream.h"
#include "client/render/table.h"
#include "client/render/units.h"
#include "client/unary_call.h"
#include "llorch/pool/v1/model.grpc.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

Cell StateCell(v1::DownloadState state) {
  switch (state) {
    case v1::DOWNLOAD_STATE_DOWNLOADED:
      return {"downloaded", Color::kGreen};
    case v1::DOWNLOAD_STATE_UNVERIFIED:
      return {"unverified", Color::kYellow};
    case v1::DOWNLOAD_STATE_PARTIAL:
      return {"partial", Color::kYellow};
    default:
      return {"not downloaded", Color::kDim};
  }
}

std::string RenderCatalog(const v1::ListCatalogResponse& response, const Style& style) {
  Table table({"ID", "NAME", "PARAMS", "SIZE", "STATUS", "CONVERT", "VERIFIED", "HUB"}, {3});
  std::string notes;
  for (const v1::CatalogEntry& entry : response.entries()) {
    const v1::CatalogModel& model = entry.model();
    const bool converts = model.has_conversion();
    table.AddRow({Cell(model.id(), Color::kBold), model.name(), model.params(),
                  "~" + FormatBytes(model.size_bytes()), StateCell(entry.state()),
                  converts ? "yes (" + model.conversion().output_type() + ")" : "no",
                  model.verified() ? Cell("yes") : Cell("no", Color::kYellow), model.hub_url()});
    if (!model.note().empty()) {
      notes += absl::StrCat("  ", style.Paint(model.id(), Color::kBold), ": ", model.note(), "\n");
    }
  }
  std::string out = table.Render(style);
  if (!notes.empty()) out += "\nNotes:\n" + notes;
  out += absl::StrCat("\nModels directory: ", response.models_dir(), "\n");
  return out;
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
                   return CallUnary<v1::ModelService>(s, &v1::ModelService::Stub::ListModels,
                                                      v1::ListModelsRequest());
                 });

  auto info_id = std::make_shared<std::string>();
  CLI::App* info = cli.AddCommand(
      models, "info", "Catalog data, local files, manifest and GGUF metadata of one model",
      "  llorch-pool models info tinyllama\n", [info_id](Session& s) {
        v1::GetModelInfoRequest request;
        request.set_id(*info_id);
        return CallUnary<v1::ModelService>(s, &v1::ModelService::Stub::GetModelInfo, request);
      });
  info->add_option("id", *info_id, "Model id")->required();

  auto download_ids = std::make_shared<std::vector<std::string>>();
  auto download_force = std::make_shared<bool>(false);
  CLI::App* download_cmd = cli.AddCommand(
      models, "download", "Download models from the Hub (converting where needed), verified",
      "  llorch-pool models download tinyllama\n"
      "  llorch-pool models download qwen qwen-fp16\n"
      "  llorch-pool models download gpt2 --force   download and convert again\n",
      [download_ids, download_force](Session& s) {
        v1::DownloadModelRequest request;
        for (const std::string& id : *download_ids) request.add_ids(id);
        request.set_force(*download_force);
        return RunOperation<v1::ModelService>(s, &v1::ModelService::Stub::DownloadModel, request);
      });
  download_cmd->add_option("ids", *download_ids, "Model ids")->required();
  download_cmd->add_flag("--force", *download_force, "Download again even if already verified");

  auto verify_ids = std::make_shared<std::vector<std::string>>();
  auto verify_all = std::make_shared<bool>(false);
  CLI::App* verify = cli.AddCommand(
      models, "verify", "Check sizes, SHA-256 hashes and GGUF headers of downloaded models",
      "  llorch-pool models verify tinyllama\n"
      "  llorch-pool models verify --all\n",
      [verify_ids, verify_all](Session& s) {
        v1::VerifyModelRequest request;
        for (const std::string& id : *verify_ids) request.add_ids(id);
        request.set_all(*verify_all);
        return RunOperation<v1::ModelService>(s, &v1::ModelService::Stub::VerifyModel, request);
      });
  auto verify_ids_option = verify->add_option("ids", *verify_ids, "Model ids");
  verify->add_flag("--all", *verify_all, "Verify every model on disk")->excludes(verify_ids_option);

  auto delete_id = std::make_shared<std::string>();
  auto delete_force = std::make_shared<bool>(false);
  CLI::App* remove = cli.AddCommand(
      models, "delete", "Remove one model's files (asks first unless --force)",
      "  llorch-pool models delete phi3\n"
      "  llorch-pool models delete phi3 --force\n",
      [delete_id, delete_force](Session& s) {
        v1::DeleteModelRequest request;
        request.set_id(*delete_id);
        request.set_dry_run(!*delete_force);
        return CallUnary<v1::ModelService>(s, &v1::ModelService::Stub::DeleteModel, request);
      });
  remove->add_option("id", *delete_id, "Model id")->required();
  remove->add_flag("--force", *delete_force, "Do not ask for confirmation");

  cli.AddCommand(models, "du", "Disk usage per model, total, and free space",
                 "  llorch-pool models du\n", [](Session& s) {
                   return CallUnary<v1::ModelService>(s, &v1::ModelService::Stub::GetDiskUsage,
                                                      v1::GetDiskUsageRequest());
                 });
}

}  // namespace llorch
