#include "agent/server/agent_context.h"

#include <sys/random.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "agent/models/builtin_catalog.h"
#include "agent/server/event_log.h"
#include "common/paths.h"
#include "common/status.h"
#include "common/trusted_dir.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

// 128 random bits as 32 lower-case hex digits.
absl::StatusOr<std::string> NewInstanceId() {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof(bytes), 0) != static_cast<ssize_t>(sizeof(bytes))) {
    return absl::InternalError(
        absl::StrCat("cannot draw the agent's instance id: getrandom: ", std::strerror(errno)));
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof(bytes)));
}

}  // namespace

absl::StatusOr<std::shared_ptr<const AgentContext>> AgentContext::Create(
    const Config& config, const fs::path& working_dir, bool in_process) {
  auto context = std::make_shared<AgentContext>();
  context->config = config;
  context->in_process = in_process;
  context->working_dir = working_dir;
  context->started_at = absl::Now();
  absl::StatusOr<std::string> instance_id = NewInstanceId();
  if (!instance_id.ok()) return instance_id.status();
  context->instance_id = *std::move(instance_id);
  EventBus::Options bus;
  // pool-agent's log tells what happened; llorch-pool's in-process agent prints its own view.
  if (!in_process) bus.observer = LogAgentEvent;
  context->events = std::make_shared<EventBus>(context->instance_id, std::move(bus));
  OperationRegistry::Options operations;
  operations.events = context->events;
  context->operations = std::make_shared<OperationRegistry>(std::move(operations));

  absl::StatusOr<AgentPaths> paths =
      ResolveAgentPaths(config, working_dir.string(), EnvironmentSnapshot(), getuid());
  if (!paths.ok()) return paths.status();
  context->repo_root = paths->repo_root;
  context->models_dir = paths->models_dir;
  context->state_dir = paths->state_dir;
  // pool-agent keeps worker state there; a directory another user controls could lie to it.
  if (!in_process) {
    if (absl::Status status = EnsureTrustedDirectory(paths->state_dir, 0700, geteuid());
        !status.ok()) {
      return WithPrefix(status, "cannot use the state directory");
    }
  }

  auto resolve = [&](const std::string& path) {
    return path.empty() ? path : (working_dir / path).lexically_normal().string();
  };
  absl::StatusOr<Catalog> catalog = config.catalog.empty()
                                        ? Catalog::Parse(BuiltInCatalogText(), kBuiltInCatalogName)
                                        : Catalog::LoadFile(resolve(config.catalog));
  if (!catalog.ok()) return catalog.status();
  context->catalog = std::make_shared<const Catalog>(std::move(*catalog));
  absl::StatusOr<std::shared_ptr<LockFile>> lock = LockFile::Load(
      ConfiguredLockPath(resolve(config.catalog), resolve(config.catalog_lock)), *context->catalog);
  if (!lock.ok()) return lock.status();
  context->catalog_lock = *std::move(lock);
  return std::shared_ptr<const AgentContext>(std::move(context));
}

}  // namespace llorch
