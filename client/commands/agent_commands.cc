// `llorch-pool agent ...`: the agent that answers, and what happens on its host.
#include <grpcpp/client_context.h>

#include <limits>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "client/output.h"
#include "client/render/errors.h"
#include "client/render/event_views.h"
#include "client/render/json.h"
#include "client/render/table.h"
#include "client/render/visible.h"
#include "client/render/worker_views.h"
#include "client/unary_call.h"
#include "common/units.h"
#include "llorch/pool/v1/agent.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;

constexpr uint64_t kMiB = uint64_t{1} << 20;

// "GPU facts from NVML, driver 550.54.15, 2 GPUs", or why there are none.
Cell GpuSummary(const v1::GpuFacts& gpus) {
  if (!gpus.available()) return Cell("unavailable: " + gpus.unavailable_reason(), Color::kRed);
  if (gpus.source() == v1::GPU_SOURCE_NONE) return Cell("none (no NVIDIA driver)");
  const std::string source = gpus.source() == v1::GPU_SOURCE_NVML ? "NVML" : "nvidia-smi";
  if (gpus.gpus().empty()) return Cell(absl::StrCat("none (", source, " lists no GPU)"));
  return Cell(absl::StrCat(Plural(gpus.gpus_size(), "GPU"), ", driver ", gpus.driver_version(),
                           " (from ", source, ")"));
}

// "NVIDIA A100-SXM4-80GB, 81920 MiB: 0 used, 81920 free, compute 8.0, GPU-..."
std::string GpuLine(const v1::Gpu& gpu) {
  std::vector<std::string> parts = {gpu.name()};
  parts.push_back(gpu.memory_known()
                      ? absl::StrCat(gpu.memory_total_bytes() / kMiB,
                                     " MiB: ", gpu.memory_used_bytes() / kMiB, " used, ",
                                     gpu.memory_free_bytes() / kMiB, " free")
                      : std::string("memory not reported"));
  if (!gpu.compute_capability().empty()) {
    parts.push_back("compute " + gpu.compute_capability());
  }
  parts.push_back(gpu.uuid());
  return absl::StrJoin(parts, ", ");
}

// What the host can run: GPUs, backends, models and space, workers, the checkout's HEAD.
void AddCapabilityRows(const v1::HostInfo& info, Table* table) {
  table->AddRow({"gpus", GpuSummary(info.gpus())});
  for (const v1::Gpu& gpu : info.gpus().gpus()) {
    table->AddRow({absl::StrCat("gpu ", gpu.index()), GpuLine(gpu)});
  }
  for (const v1::BackendFacts& backend : info.backends()) {
    table->AddRow({absl::StrCat("backend ", BackendText(backend.backend())),
                   backend.available()
                       ? Cell("available: " + backend.program_path(), Color::kGreen)
                       : Cell("unavailable: " + backend.unavailable_reason(), Color::kDim)});
  }
  if (info.has_models_disk()) {
    table->AddRow(
        {"models disk", absl::StrCat(FormatBytes(info.models_disk().free_bytes()), " free of ",
                                     FormatBytes(info.models_disk().total_bytes()))});
  }
  std::vector<std::string> models;
  for (const v1::HostModel& model : info.models()) {
    models.push_back(absl::StrCat(model.id(), " (", FormatBytes(model.bytes()), ")"));
  }
  table->AddRow(
      {"models", models.empty() ? std::string("none downloaded") : absl::StrJoin(models, ", ")});
  table->AddRow({"workers", info.live_workers() == 0
                                ? std::string("none running")
                                : absl::StrCat(info.live_workers(), " running, ports ",
                                               absl::StrJoin(info.worker_ports(), ", "))});
  if (info.has_repo()) {
    const v1::RepoHead& repo = info.repo();
    table->AddRow(
        {"repo head", !repo.error().empty()
                          ? Cell(repo.error(), Color::kRed)
                          : Cell(absl::StrCat(repo.branch().empty() ? "detached" : repo.branch(),
                                              " at ", repo.commit().substr(0, 12)))});
  }
}

std::string RenderHostInfo(const v1::HostInfo& info, const Style& style) {
  Table table = Table::Facts();
  const absl::Time started = absl::FromUnixSeconds(info.started_at().seconds());
  table.AddRow({"hostname", Cell(info.hostname(), Color::kBold)});
  table.AddRow({"agent", absl::StrCat("pool-agent ", info.agent_version(), " (", info.api_version(),
                                      "), pid ", info.pid())});
  table.AddRow({"mode", info.in_process() ? "in-process (standalone)" : "daemon"});
  table.AddRow({"instance", info.instance_id()});
  table.AddRow({"listening", info.listen_addresses().empty()
                                 ? std::string("-")
                                 : absl::StrJoin(info.listen_addresses(), ", ")});
  if (info.insecure()) {
    table.AddRow({"security",
                  Cell("INSECURE (--insecure): TCP may be plaintext off this host, and without a "
                       "token when none is configured",
                       Color::kRed)});
  }
  table.AddRow(
      {"started", absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", started, absl::LocalTimeZone())});
  table.AddRow({"os", absl::StrCat(info.os(), ", ", info.kernel(), ", ", info.arch())});
  table.AddRow({"cpus", absl::StrCat(info.cpu_count())});
  table.AddRow({"memory", FormatBytes(info.memory_bytes())});
  table.AddRow({"repo root", info.repo_root().empty() ? std::string("(none: not in a git checkout)")
                                                      : info.repo_root()});
  table.AddRow({"models dir", info.models_dir()});
  table.AddRow({"state dir", info.state_dir()});
  if (!info.hub_endpoint().empty()) {
    table.AddRow(
        {"hub", info.hub_offline()
                    ? Cell(info.hub_endpoint() + " (offline: HF_HUB_OFFLINE)", Color::kYellow)
                    : Cell(info.hub_endpoint())});
  }
  AddCapabilityRows(info, &table);
  return table.Render(style);
}

struct EventsFlags {
  uint64_t after = std::numeric_limits<uint64_t>::max();  // default: only new events
  std::string instance;
};

// Follows the agent's events until interrupted, the agent goes, or the stream cannot go on
// (EVENTS_EXPIRED): one line per event, or one JSON object per line with -o json.
int FollowEvents(Session& s, const EventsFlags& flags) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = s.Channel();
  if (!channel.ok()) return s.Fail(channel.status());
  if (s.standalone()) {
    ClientError error;
    error.message =
        "`agent events` follows the events of a running agent, and none answers here (standalone "
        "mode)";
    error.hint = "start `pool-agent`, or reach one with --agent ADDR";
    error.exit_code = kExitUnreachable;
    return ReportError(error, s.err_style());
  }
  v1::WatchEventsRequest request;
  request.set_after_sequence(flags.after);
  request.set_agent_instance_id(flags.instance);
  grpc::ClientContext context;  // no deadline: it follows until stopped
  std::unique_ptr<grpc::ClientReader<v1::AgentEvent>> stream =
      v1::AgentService::NewStub(*channel)->WatchEvents(&context, request);
  v1::AgentEvent event;
  while (stream->Read(&event)) {
    s.Print(s.json() ? ToJsonLine(event) + "\n"
                     : RenderVisible(RenderAgentEvent, event, s.out_style()));
    // Each event as it comes; a reader that went away (`| head`) ends the command.
    if (!FlushOutput()) {
      context.TryCancel();
      return kExitOk;
    }
  }
  return s.Fail(stream->Finish());
}

}  // namespace

void AddAgentCommands(CommandLine& cli) {
  CLI::App* agent =
      cli.AddGroup(&cli.app(), "agent", "The agent that answers: host, paths and its events",
                   "  llorch-pool agent info\n"
                   "  llorch-pool --agent 127.0.0.1:9200 agent info -o json\n"
                   "  llorch-pool agent events\n");
  cli.AddCommand(agent, "info",
                 "Host facts, agent version, listeners and paths, and what the host can run: "
                 "GPUs, backends, models and disk space, workers and their ports, the repo's HEAD",
                 "  llorch-pool agent info\n"
                 "  llorch-pool agent info -o json   (HostInfo as JSON, for scripts)\n"
                 "  llorch-pool agent info -v   (also says how the agent was found)\n",
                 [](Session& s) {
                   return CallUnary<v1::AgentService>(s, &v1::AgentService::Stub::GetHostInfo,
                                                      v1::GetHostInfoRequest(),
                                                      Renderer<v1::HostInfo>(RenderHostInfo));
                 });

  auto events = std::make_shared<EventsFlags>();
  CLI::App* follow = cli.AddCommand(
      agent, "events",
      "Follow what happens on the host: operations starting and ending, models installed, "
      "removed or unverified (until Ctrl-C)",
      "  llorch-pool agent events\n"
      "  llorch-pool agent events -o json            (one event per line)\n"
      "  llorch-pool agent events --after 0          (the events the agent kept, then new ones)\n"
      "  llorch-pool agent events --after 41 --instance 3f0c...   (resume after event 41)\n",
      [events](Session& s) { return FollowEvents(s, *events); });
  follow
      ->add_option("--after", events->after,
                   "Start after this event sequence: 0 = every event the agent kept (default: "
                   "only new ones)")
      ->type_name("SEQ");
  follow
      ->add_option("--instance", events->instance,
                   "The agent instance the --after sequence belongs to (an event's "
                   "agent_instance_id); another instance is refused as expired")
      ->type_name("ID");
}

}  // namespace llorch
