// `llorch-pool agent ...`: the agent that answers.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "client/cli.h"
#include "client/render/table.h"
#include "common/units.h"
#include "client/unary_call.h"
#include "llorch/pool/v1/agent.grpc.pb.h"

namespace llorch {
namespace {
namespace v1 = pool::v1;

std::string RenderHostInfo(const v1::HostInfo& info, const Style& style) {
  Table table({"FIELD", "VALUE"});
  const absl::Time started = absl::FromUnixSeconds(info.started_at().seconds());
  table.AddRow({"hostname", Cell(info.hostname(), Color::kBold)});
  table.AddRow({"agent", absl::StrCat("pool-agent ", info.agent_version(), " (", info.api_version(),
                                      "), pid ", info.pid())});
  table.AddRow({"mode", info.in_process() ? "in-process (standalone)" : "daemon"});
  table.AddRow({"listening", info.listen_addresses().empty()
                                 ? std::string("-")
                                 : absl::StrJoin(info.listen_addresses(), ", ")});
  table.AddRow(
      {"started", absl::FormatTime("%Y-%m-%d %H:%M:%S %Z", started, absl::LocalTimeZone())});
  table.AddRow({"os", absl::StrCat(info.os(), ", ", info.kernel(), ", ", info.arch())});
  table.AddRow({"cpus", absl::StrCat(info.cpu_count())});
  table.AddRow({"memory", FormatBytes(info.memory_bytes())});
  table.AddRow({"repo root", info.repo_root().empty() ? std::string("(none: not in a git checkout)")
                                                      : info.repo_root()});
  table.AddRow({"models dir", info.models_dir()});
  table.AddRow({"state dir", info.state_dir()});
  return table.Render(style);
}

}  // namespace

void AddAgentCommands(CommandLine& cli) {
  CLI::App* agent = cli.AddGroup(&cli.app(), "agent", "The agent that answers: host and paths",
                                 "  llorch-pool agent info\n"
                                 "  llorch-pool --agent 127.0.0.1:9200 agent info -o json\n");
  cli.AddCommand(agent, "info", "Host facts, agent version, listeners and paths",
                 "  llorch-pool agent info\n  llorch-pool agent info -v   (also says how the "
                 "agent was found)\n",
                 [](Session& s) {
                   return CallUnary<v1::AgentService>(s, &v1::AgentService::Stub::GetHostInfo,
                                                      v1::GetHostInfoRequest(),
                                                      Renderer<v1::HostInfo>(RenderHostInfo));
                 });
}

}  // namespace llorch
