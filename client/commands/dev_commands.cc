// `llorch-pool dev ...`: host checks, set-up and configuration validation.
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/cli.h"
#include "client/completion.h"
#include "client/confirm.h"
#include "client/operation_stream.h"
#include "client/render/dev_views.h"
#include "client/render/errors.h"
#include "client/render/visible.h"
#include "client/unary_call.h"
#include "llorch/pool/v1/dev.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;
using Stub = v1::DevService::Stub;

// The agent's checks (agent/dev/doctor.h, DoctorCheckNames), for the help and completion; an
// agent of another version refuses a name it lacks and suggests the closest ones.
const std::vector<Candidate>& DoctorChecks() {
  static const auto* checks = new std::vector<Candidate>{
      {"git", "git --version"},
      {"hf.cli", "the hf CLI (needed with download.backend = \"hf\")"},
      {"rust.toolchain", "rustc and cargo"},
      {"python.converter", "Python and the catalog's converter scripts"},
      {"git.submodules", "submodules initialized, at their recorded commits"},
      {"disk.models", "the models dir: writable, free space, flock"},
      {"gpu.cuda", "the NVIDIA driver and each GPU"},
      {"gpu.cuda.uvm", "/dev/nvidia-uvm, when there are GPUs"},
      {"gpu.metal", "Metal (macOS only)"},
      {"config", "the configuration layers, as dev check-config walks them"},
      {"hub.reachable", "one metadata request to the Hub"},
  };
  return *checks;
}

// "checks: git hf.cli ...", wrapped for the help's footer.
std::string DoctorChecksFooter() {
  std::string footer = "checks:";
  size_t line_length = footer.size();
  for (const Candidate& check : DoctorChecks()) {
    if (line_length + 1 + check.value.size() > 90) {
      absl::StrAppend(&footer, "\n       ");
      line_length = 7;
    }
    absl::StrAppend(&footer, " ", check.value);
    line_length += 1 + check.value.size();
  }
  return footer + "\n";
}

// `dev doctor [NAME...]`: the checks' outcomes; exit 1 when a required check failed.
int RunDoctor(Session& session, const std::vector<std::string>& names) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  v1::RunDoctorRequest request;
  for (const std::string& name : names) request.add_names(name);
  v1::RunDoctorResponse response;
  if (grpc::Status status = v1::DevService::NewStub(*channel)->RunDoctor(
          session.NewCallContext().get(), request, &response);
      !status.ok()) {
    return session.Fail(status);
  }
  PrintResponse(session, response, Renderer<v1::RunDoctorResponse>(RenderDoctor));
  return response.ok() ? kExitOk : kExitFailed;
}

// `dev check-config`: the agent's configuration, checked; exit 1 when it has an error.
int CheckConfig(Session& session) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  v1::CheckConfigResponse response;
  if (grpc::Status status = v1::DevService::NewStub(*channel)->CheckConfig(
          session.NewCallContext().get(), v1::CheckConfigRequest(), &response);
      !status.ok()) {
    return session.Fail(status);
  }
  PrintResponse(session, response, Renderer<v1::CheckConfigResponse>(RenderCheckConfig));
  return response.ok() ? kExitOk : kExitFailed;
}

struct SetupFlags {
  bool dry_run = false;
  bool yes = false;
  bool force = false;
  std::string model;
  std::vector<std::string> skip;
};

// Prints a setup's result (nothing more with --output json); exit 1 when a step failed.
int PrintSetupResult(const google::protobuf::Any& any, Session& session) {
  v1::DevSetupResult result;
  if (!any.UnpackTo(&result)) return kExitFailed;
  if (!session.json()) session.Print(RenderVisible(RenderSetup, result, session.out_style()));
  return result.ok() ? kExitOk : kExitFailed;
}

// The plan (a dry run) without showing its events; the exit code of a failure, else nullopt.
std::optional<int> FetchPlan(Session& session, v1::RunSetupRequest request,
                             v1::DevSetupResult* plan) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return session.Fail(channel.status());
  request.set_dry_run(true);
  // A dry run changes nothing and ends when its checks do: a unary call's deadline.
  std::unique_ptr<grpc::ClientContext> context = session.NewCallContext();
  auto reader = v1::DevService::NewStub(*channel)->RunSetup(context.get(), request);
  v1::OperationEvent event;
  v1::OperationEvent final_event;
  while (reader->Read(&event)) {
    if (event.final()) final_event = event;
  }
  if (grpc::Status status = reader->Finish(); !status.ok()) return session.Fail(status);
  if (final_event.has_error()) {
    return ReportError(FromOperationError(final_event.error()), session.err_style());
  }
  if (!final_event.result().UnpackTo(plan)) {
    return session.Fail(absl::InternalError("the agent's plan is not a DevSetupResult"));
  }
  return std::nullopt;
}

// `dev setup`: the plan; unless --yes, shown and confirmed when a step would change something;
// then the set-up as one operation.
int RunSetup(Session& session, const SetupFlags& flags) {
  v1::RunSetupRequest request;
  request.set_model_id(flags.model);
  for (const std::string& step : flags.skip) request.add_skip_steps(step);
  request.set_force(flags.force);
  request.set_dry_run(flags.dry_run);
  if (!flags.dry_run && !flags.yes) {
    if (std::optional<int> refused = RefuseUnworkableDetach(session)) return *refused;
    v1::DevSetupResult plan;
    if (std::optional<int> failed = FetchPlan(session, request, &plan)) return *failed;
    const bool changes =
        std::any_of(plan.steps().begin(), plan.steps().end(), [](const v1::SetupStep& step) {
          return step.action() == v1::SETUP_ACTION_WILL_DO && step.name() != "doctor";
        });
    if (changes) {
      // Also when nobody can answer: the refusal then says what --yes would do.
      std::fputs(RenderVisible(RenderSetup, plan, session.err_style()).c_str(), stderr);
      std::string again = "llorch-pool dev setup";
      if (!flags.model.empty()) absl::StrAppend(&again, " --model ", flags.model);
      for (const std::string& step : flags.skip) absl::StrAppend(&again, " --skip ", step);
      if (flags.force) absl::StrAppend(&again, " --force");
      absl::StatusOr<bool> yes =
          Confirm("Set the host up as planned?", "set the host up", again + " --yes");
      if (!yes.ok()) return session.Fail(yes.status());
      if (!*yes) {
        std::fputs("Nothing changed.\n", stderr);
        return kExitFailed;
      }
    }
  }
  return RunOperation<v1::DevService>(session, &Stub::RunSetup, request, PrintSetupResult);
}

}  // namespace

void AddDevCommands(CommandLine& cli) {
  CLI::App* dev = cli.AddGroup(&cli.app(), "dev", "Host checks, set-up and configuration",
                               "  llorch-pool dev doctor\n"
                               "  llorch-pool dev setup\n"
                               "  llorch-pool dev check-config\n");
  auto doctor_names = std::make_shared<std::vector<std::string>>();
  CLI::App* doctor = cli.AddCommand(
      dev, "doctor",
      "Check git, hf, Rust, the converter, submodules, the models dir, GPUs, the configuration and "
      "the Hub, each with a fix; exits 1 when a required check fails (optional ones only warn)",
      "  llorch-pool dev doctor\n"
      "  llorch-pool dev doctor gpu.cuda disk.models\n"
      "  llorch-pool dev doctor -o json\n" +
          DoctorChecksFooter(),
      [doctor_names](Session& s) { return RunDoctor(s, *doctor_names); });
  doctor->add_option("names", *doctor_names, "Checks to run (default: all)");
  cli.CompleteWith(doctor, [](Session&) { return DoctorChecks(); });

  auto setup = std::make_shared<SetupFlags>();
  CLI::App* setup_cmd = cli.AddCommand(
      dev, "setup",
      "Set the host up, each step only when needed: initialize submodules, install the hf CLI "
      "(only with download.backend = \"hf\"), download the recommended model, write a default "
      "config where none exists, run the doctor; shows the plan and asks first",
      "  llorch-pool dev setup --dry-run              the plan: what each step would do\n"
      "  llorch-pool dev setup                        show the plan, ask, then set up\n"
      "  llorch-pool dev setup --yes                  without asking (scripts, no terminal)\n"
      "  llorch-pool dev setup --yes --model qwen     another catalog model\n"
      "  llorch-pool dev setup --yes --skip model     everything but the download\n"
      "  llorch-pool dev setup --yes --force          replace the config with the default,\n"
      "                                               keeping the old one as FILE.bak-<time>\n"
      "  llorch-pool dev setup --yes -o json          one document: the DevSetupResult\n"
      "steps, in order: submodules hf model config doctor. Running it again changes nothing\n"
      "(every step \"already done\"); a failed step shows how to retry it. Exits 1 when a step\n"
      "failed. The recommended model: workers.default_model, else tinyllama.\n",
      [setup](Session& s) { return RunSetup(s, *setup); });
  setup_cmd->add_flag("--dry-run", setup->dry_run, "Show the plan only; change nothing");
  cli.AllowDetach(setup_cmd);
  setup_cmd->add_flag("--yes,-y", setup->yes, "Do not ask before changing anything");
  setup_cmd->add_option("--model", setup->model,
                        "Catalog model to download (default: the "
                        "recommended one)");
  setup_cmd
      ->add_option("--skip", setup->skip,
                   "A step to skip (repeatable): submodules, hf, "
                   "model, config, doctor")
      ->check(CLI::IsMember({"submodules", "hf", "model", "config", "doctor"}));
  setup_cmd->add_flag("--force", setup->force,
                      "Replace an existing config file with the default (backup kept)");
  cli.CompleteWith(setup_cmd, ModelIdCandidates);

  CLI::App* check_config = cli.AddCommand(
      dev, "check-config",
      "Check the configuration: every file read (present or not), every problem as FILE:LINE "
      "with its fix (unknown keys with the closest known one, wrong types, values out of range, "
      "paths, ports, worker templates), every effective value and where it came from; exits 1 "
      "on an error, 0 with warnings only",
      "  llorch-pool dev check-config                   the answering agent's configuration\n"
      "  llorch-pool --standalone dev check-config      this command's own layers\n"
      "  llorch-pool --standalone --config ./pool.toml dev check-config\n"
      "                                                 a file before installing it\n"
      "  llorch-pool dev check-config -o json\n"
      "Layers, lowest first: defaults, /etc/llorch/pool.toml, $XDG_CONFIG_HOME/llorch/pool.toml,\n"
      "--config FILE, LLORCH_* variables, flags. With errors in this command's own configuration\n"
      "it checks those layers in-process instead of refusing to start.\n",
      [](Session& s) { return CheckConfig(s); });
  cli.AllowConfigErrors(check_config);
}

}  // namespace llorch
