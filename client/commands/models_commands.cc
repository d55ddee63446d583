// `llorch-pool models ...`: the catalog and the model store.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/cli.h"
#include "client/confirm.h"
#include "client/hub_settings.h"
#include "client/operation_results.h"
#include "client/operation_stream.h"
#include "client/render/json.h"
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

// Shows the files of `names` a delete removes (on a terminal) and asks; kExitOk to go on, else
// the exit code (no answer possible without --force, or the answer was no).
int ConfirmDelete(Session& session, const v1::DeleteModelResponse& plan, const std::string& names) {
  if (isatty(STDIN_FILENO)) {
    std::fputs(RenderVisible(RenderDeletedFiles, plan, session.err_style()).c_str(), stderr);
  }
  absl::StatusOr<bool> yes =
      Confirm(absl::StrCat("Delete these files of ", names, "?"),
              absl::StrCat("delete ", names, " (", FormatBytes(plan.freed_bytes()), ")"),
              absl::StrCat("llorch-pool models delete ", names, " --force"));
  if (!yes.ok()) return session.Fail(yes.status());
  if (!*yes) {
    std::fputs("Nothing deleted.\n", stderr);
    return kExitFailed;
  }
  return kExitOk;
}

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
    if (const int refused = ConfirmDelete(session, plan, id); refused != kExitOk) return refused;
  }
  request.set_dry_run(false);
  v1::DeleteModelResponse deleted;
  status = stub->DeleteModel(session.NewCallContext().get(), request, &deleted);
  if (!status.ok()) return session.Fail(status);
  if (session.json()) {
    session.PrintJson(deleted);
  } else {
    session.Print(absl::StrCat("Deleted ", id, ": ", Plural(deleted.removed_size(), "file"), ", ",
                               FormatBytes(deleted.freed_bytes()), " freed.\n"));
  }
  return kExitOk;
}

// Several models, one command: every model is tried even when one fails; each failure is
// reported on stderr as it happens and becomes a row of the summary.
struct EachModel {
  std::vector<ModelFailure> failed;
  JsonValue failed_json = JsonValue::array();

  void Fail(Session& session, const std::string& id, const ClientError& error) {
    ReportError(error, session.err_style());
    failed.push_back({id, Visible(error.message)});
    failed_json.push_back(
        {{"id", id}, {"message", error.message}, {"hint", error.hint}, {"reason", error.reason}});
  }

  // `result` as JSON with the failures under "failed" (-o json, or one line with -o jsonl).
  void PrintJson(Session& session, JsonValue result) const {
    result["failed"] = failed_json;
    session.Print(DumpJson(result, session.jsonl()) + "\n");
  }

  int exit_code() const { return failed.empty() ? kExitOk : kExitFailed; }
};

// The ids in the order given, each once.
std::vector<std::string> Unique(const std::vector<std::string>& ids) {
  std::vector<std::string> unique;
  for (const std::string& id : ids) {
    if (std::find(unique.begin(), unique.end(), id) == unique.end()) unique.push_back(id);
  }
  return unique;
}

template <typename Request>
using StreamMethod = std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> (Stub::*)(
    grpc::ClientContext*, const Request&);

// Starts `method` with `request`, the Hub token `hub_token` (HubTokenToPass) in its metadata.
template <typename Request>
OperationStarter WithHubToken(StreamMethod<Request> method, const Request& request,
                              const std::string& hub_token) {
  return [method, &request, &hub_token](grpc::ClientContext* context,
                                        const std::shared_ptr<grpc::Channel>& channel) {
    AddHubToken(context, hub_token);
    return (*v1::ModelService::NewStub(channel).*method)(context, request);
  };
}

// Runs `method` with `request` once per id, in turn, each model's result merged into `merged`
// and each failure recorded in `each`. False when Ctrl-C stopped it. With --detach, starts one
// operation per model, prints their ids (-o json: {"operations": [{"model", "operation_id",
// "joined"}]}) and returns true with nothing merged.
template <typename Request, typename Result>
bool FollowEach(Session& session, const std::vector<std::string>& ids, StreamMethod<Request> method,
                Request request, Result* merged, EachModel* each) {
  const std::string hub_token = HubTokenToPass(session);
  JsonValue detached = JsonValue::array();
  for (const std::string& id : ids) {
    request.clear_ids();
    request.add_ids(id);
    const OperationOutcome outcome =
        FollowOperation(session, WithHubToken(method, request, hub_token), session.detach());
    if (outcome.interrupted) return false;
    if (outcome.detached) {
      if (session.json()) {
        detached.push_back({{"model", id},
                            {"operation_id", outcome.detached->operation_id},
                            {"joined", outcome.detached->joined}});
      } else {
        PrintDetached(session, *outcome.detached);
      }
      continue;
    }
    Result result;
    if (outcome.error) {
      each->Fail(session, id, *outcome.error);
    } else if (outcome.result && outcome.result->UnpackTo(&result)) {
      merged->mutable_models()->MergeFrom(result.models());
    }
  }
  if (session.detach() && session.json()) {
    session.Print(DumpJson(JsonValue{{"operations", detached}}, session.jsonl()) + "\n");
  }
  return true;
}

// `models download A B ...`: one operation per model, in turn.
int RunDownloads(Session& session, const std::vector<std::string>& ids, bool force) {
  if (ids.size() == 1) {
    v1::DownloadModelRequest request;
    request.add_ids(ids.front());
    request.set_force(force);
    const std::string hub_token = HubTokenToPass(session);
    return RunOperation(session, WithHubToken(&Stub::DownloadModel, request, hub_token),
                        PrintDownloadResult);
  }
  if (std::optional<int> refused = RefuseUnworkableDetach(session)) return *refused;
  EachModel each;
  v1::DownloadModelResult installed;
  v1::DownloadModelRequest request;
  request.set_force(force);
  if (!FollowEach(session, ids, &Stub::DownloadModel, request, &installed, &each)) {
    return kExitInterrupted;
  }
  if (session.detach()) return each.exit_code();
  if (session.json()) {
    each.PrintJson(session, ToJsonValue(installed));
  } else {
    PrintDownloadedModels(installed, each.failed, session);
  }
  return each.exit_code();
}

// `models verify A B ...`: one operation per model, in turn.
int RunVerifies(Session& session, const std::vector<std::string>& ids) {
  if (std::optional<int> refused = RefuseUnworkableDetach(session)) return *refused;
  EachModel each;
  v1::VerifyModelResult verified;
  if (!FollowEach(session, ids, &Stub::VerifyModel, v1::VerifyModelRequest(), &verified, &each)) {
    return kExitInterrupted;
  }
  if (session.detach()) return each.exit_code();
  verified.set_ok(each.failed.empty() &&
                  std::all_of(verified.models().begin(), verified.models().end(),
                              [](const v1::ModelVerification& model) { return model.ok(); }));
  if (session.json()) {
    each.PrintJson(session, ToJsonValue(verified));
  } else {
    session.Print(
        RenderVisible([&](const v1::VerifyModelResult& r,
                          const Style& style) { return RenderVerifyResult(r, style, each.failed); },
                      verified, session.out_style()));
  }
  return verified.ok() ? kExitOk : kExitFailed;
}

// `models delete A B ...`: what goes of each, one question for all unless --force, then each
// deleted in turn.
int RunDeletes(Session& session, const std::vector<std::string>& ids, bool force) {
  if (ids.size() == 1) return RunDelete(session, ids.front(), force);
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  auto stub = v1::ModelService::NewStub(*channel);
  EachModel each;
  std::vector<std::string> to_delete;
  v1::DeleteModelResponse all_files;  // what the question shows
  for (const std::string& id : ids) {
    v1::DeleteModelRequest request;
    request.set_id(id);
    request.set_dry_run(true);
    v1::DeleteModelResponse plan;
    grpc::Status status = stub->DeleteModel(session.NewCallContext().get(), request, &plan);
    if (!status.ok()) {
      each.Fail(session, id, FromGrpcStatus(status));
      continue;
    }
    to_delete.push_back(id);
    for (const v1::LocalFile& file : plan.removed()) *all_files.add_removed() = file;
    all_files.set_freed_bytes(all_files.freed_bytes() + plan.freed_bytes());
  }
  if (!force && !all_files.removed().empty()) {
    const int refused = ConfirmDelete(session, all_files, absl::StrJoin(to_delete, " "));
    if (refused != kExitOk) return refused;
  }
  std::vector<v1::DeleteModelResponse> deleted;
  std::vector<std::string> deleted_ids;
  JsonValue deleted_json = JsonValue::array();
  for (const std::string& id : to_delete) {
    v1::DeleteModelRequest request;
    request.set_id(id);
    v1::DeleteModelResponse response;
    grpc::Status status = stub->DeleteModel(session.NewCallContext().get(), request, &response);
    if (!status.ok()) {
      each.Fail(session, id, FromGrpcStatus(status));
      continue;
    }
    JsonValue model = {{"id", id}};
    model.update(ToJsonValue(response));
    deleted_json.push_back(std::move(model));
    deleted.push_back(std::move(response));
    deleted_ids.push_back(id);
  }
  if (session.json()) {
    each.PrintJson(session, JsonValue{{"models", std::move(deleted_json)}});
  } else {
    std::vector<v1::DeleteModelResponse> visible = deleted;
    for (v1::DeleteModelResponse& response : visible) MakeVisible(&response);
    std::vector<std::string> visible_ids;
    for (const std::string& id : deleted_ids) visible_ids.push_back(Visible(id));
    session.Print(RenderDeleteSummary(visible, visible_ids, each.failed, session.out_style()));
  }
  return each.exit_code();
}

// `models lock`: one LockModels call; exit 1 when a model could not be pinned.
int RunLock(Session& session, const std::vector<std::string>& ids, bool update, bool unpin) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  v1::LockModelsRequest request;
  for (const std::string& id : ids) request.add_ids(id);
  request.set_update(update);
  request.set_unpin(unpin);
  v1::LockModelsResponse response;
  grpc::Status status = v1::ModelService::NewStub(*channel)->LockModels(
      session.NewCallContext().get(), request, &response);
  if (!status.ok()) return session.Fail(status);
  PrintResponse(session, response, Renderer<v1::LockModelsResponse>(RenderLockResult));
  for (const v1::LockedModel& model : response.models()) {
    if (model.action() == v1::LockedModel::ACTION_FAILED) return kExitFailed;
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
      "  path=$(llorch-pool models download tinyllama -q)   only the installed path\n"
      "  llorch-pool models download tinyllama -o json | jq -r '.models[].local_path'\n"
      "  id=$(llorch-pool models download llama3 --detach)   returns at once with the\n"
      "      operation id (needs pool-agent); `llorch-pool ops watch $id` follows it\n"
      "\n"
      "Ctrl-C cancels the download this command started (it resumes next time); a second\n"
      "`models download` of the same model joins the running one, and its Ctrl-C only stops\n"
      "watching.\n"
      "Several models: each is tried even when one fails, with a row per model (downloaded,\n"
      "adopted, already downloaded, or failed and why); the exit code is 1 when any failed.\n"
      "Interrupted downloads resume where they stopped (also after a crash); the file is\n"
      "installed only when its SHA-256 matches the Hub's. Your HF_TOKEN (else the token of\n"
      "`hf auth login`) goes with the request, for this download only, also to a running\n"
      "agent (over its socket, TLS or loopback; never stored); the Hub is the agent's\n"
      "(its HF_ENDPOINT, HF_HUB_OFFLINE), with a warning when yours differ.\n"
      "download.* in pool.toml tunes connections, retries and the backend\n"
      "(docs/configuration.md).\n",
      [download_ids, download_force](Session& s) {
        return RunDownloads(s, Unique(*download_ids), *download_force);
      });
  download_cmd->add_option("ids", *download_ids, "Model ids")->required();
  cli.AllowDetach(download_cmd);
  download_cmd->add_flag("--force", *download_force,
                         "Download again even if already downloaded and verified");

  auto verify_ids = std::make_shared<std::vector<std::string>>();
  auto verify_all = std::make_shared<bool>(false);
  CLI::App* verify = cli.AddCommand(
      models, "verify", "Check sizes, SHA-256 hashes and GGUF headers of downloaded models",
      "  llorch-pool models verify tinyllama\n"
      "  llorch-pool models verify tinyllama qwen   each checked even when one fails\n"
      "  llorch-pool models verify --all\n",
      [verify_ids, verify_all](Session& s) {
        if (verify_ids->empty() && !*verify_all) {
          return s.Fail(absl::InvalidArgumentError("say which models: IDs or --all"));
        }
        if (Unique(*verify_ids).size() > 1) return RunVerifies(s, Unique(*verify_ids));
        v1::VerifyModelRequest request;
        for (const std::string& id : *verify_ids) request.add_ids(id);
        request.set_all(*verify_all);
        const std::string hub_token = HubTokenToPass(s);
        return RunOperation(s, WithHubToken(&Stub::VerifyModel, request, hub_token),
                            PrintVerifyResult);
      });
  auto verify_ids_option = verify->add_option("ids", *verify_ids, "Model ids");
  cli.AllowDetach(verify);
  verify->add_flag("--all", *verify_all, "Verify every model on disk")->excludes(verify_ids_option);

  auto delete_ids = std::make_shared<std::vector<std::string>>();
  auto delete_force = std::make_shared<bool>(false);
  CLI::App* remove =
      cli.AddCommand(models, "delete", "Remove models' files (asks first unless --force)",
                     "  llorch-pool models delete phi3\n"
                     "  llorch-pool models delete phi3 --force\n"
                     "  llorch-pool models delete phi3 gpt2   one question for both; each tried\n",
                     [delete_ids, delete_force](Session& s) {
                       return RunDeletes(s, Unique(*delete_ids), *delete_force);
                     });
  remove->add_option("ids", *delete_ids, "Model ids")->required();
  remove->add_flag("--force", *delete_force, "Do not ask for confirmation");

  auto lock_ids = std::make_shared<std::vector<std::string>>();
  auto lock_update = std::make_shared<bool>(false);
  auto lock_unpin = std::make_shared<bool>(false);
  CLI::App* lock = cli.AddCommand(
      models, "lock", "Pin models to the Hub's commit and SHA-256 in the catalog's lock file",
      "  llorch-pool --catalog fleet.toml models lock   pin every model not pinned yet\n"
      "  llorch-pool models lock qwen                   pin one model\n"
      "  llorch-pool models lock --update qwen          pin what the Hub has now\n"
      "  llorch-pool models lock --unpin qwen           remove the pin\n"
      "\n"
      "Asks the Hub (a HEAD per model, nothing is downloaded) which commit the catalog's\n"
      "revision resolves to and the SHA-256 and size of the model's file there, and writes them\n"
      "to the lock file beside the catalog (fleet.toml -> fleet.lock.toml; with the built-in\n"
      "catalog, the file `catalog_lock` names). Downloads of a pinned model then install exactly\n"
      "those bytes, from the pinned commit, or fail naming both when the Hub gives others;\n"
      "`models verify` checks against the pin, also with HF_HUB_OFFLINE=1. Models already\n"
      "pinned are kept (a Hub that moved on is reported) unless --update. Commit the lock file\n"
      "next to the catalog so every host installs the same bytes.\n",
      [lock_ids, lock_update, lock_unpin](Session& s) {
        return RunLock(s, Unique(*lock_ids), *lock_update, *lock_unpin);
      });
  lock->add_option("ids", *lock_ids, "Model ids (default: every catalog model)");
  auto update_flag =
      lock->add_flag("--update", *lock_update, "Pin again what the Hub has now, also if pinned");
  lock->add_flag("--unpin", *lock_unpin, "Remove the models' pins (name them)")
      ->excludes(update_flag);

  for (const CLI::App* command : {catalog, info, download_cmd, verify, remove, lock}) {
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
