#include "agent/server/agent_context.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "agent/models/builtin_catalog.h"
#include "common/paths.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;

absl::StatusOr<std::shared_ptr<const AgentContext>> AgentContext::Create(
    const Config& config, const fs::path& working_dir, bool in_process) {
  auto context = std::make_shared<AgentContext>();
  context->config = config;
  context->in_process = in_process;
  context->started_at = absl::Now();
  context->operations = std::make_shared<OperationRegistry>();

  if (!config.repo_root.empty()) {
    context->repo_root = (working_dir / config.repo_root).lexically_normal();
  } else if (absl::StatusOr<std::string> top = FindGitTopLevel(working_dir.string()); top.ok()) {
    context->repo_root = *top;
  }
  // Without a checkout, relative paths are taken from the working directory.
  const fs::path base = context->repo_root.empty() ? working_dir : context->repo_root;
  context->models_dir = ResolveModelsDir(config, base.string());
  const std::map<std::string, std::string> env = EnvironmentSnapshot();
  context->state_dir = config.state_dir.empty()
                           ? fs::path(DefaultStateDir(env, getuid()))
                           : (working_dir / config.state_dir).lexically_normal();

  absl::StatusOr<Catalog> catalog =
      config.catalog.empty()
          ? Catalog::Parse(BuiltInCatalogText(), kBuiltInCatalogName)
          : Catalog::LoadFile((working_dir / config.catalog).lexically_normal().string());
  if (!catalog.ok()) return catalog.status();
  context->catalog = std::move(*catalog);
  return std::shared_ptr<const AgentContext>(std::move(context));
}

}  // namespace llorch
