#include "agent/server/agent_service.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>

#include "agent/ops/event_stream.h"
#include "agent/rpc/grpc_status.h"
#include "agent/server/agent_requests.h"
#include "common/version.h"

namespace llorch {
namespace {

// PRETTY_NAME from /etc/os-release, e.g. "Debian GNU/Linux 12 (bookworm)".
std::string OsName() {
  std::ifstream in("/etc/os-release");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("PRETTY_NAME=", 0) != 0) continue;
    std::string value = line.substr(12);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    return value;
  }
  return "Linux";
}

}  // namespace

void DescribeHost(const AgentContext& context, const std::vector<std::string>& listen_addresses,
                  HostFacts& facts, pool::v1::HostInfo* info) {
  char hostname[256] = {};
  if (gethostname(hostname, sizeof(hostname) - 1) == 0) info->set_hostname(hostname);
  info->set_agent_version(kVersion);
  info->set_api_version(kApiVersion);
  info->set_os(OsName());
  utsname uts{};
  if (uname(&uts) == 0) {
    info->set_kernel(std::string(uts.sysname) + " " + uts.release);
    info->set_arch(uts.machine);
  }
  info->set_cpu_count(std::thread::hardware_concurrency());
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_size = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page_size > 0) {
    info->set_memory_bytes(static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size));
  }
  info->set_repo_root(context.repo_root.string());
  info->set_models_dir(context.models_dir.string());
  info->set_state_dir(context.state_dir.string());
  for (const std::string& address : listen_addresses) info->add_listen_addresses(address);
  info->mutable_started_at()->set_seconds(absl::ToUnixSeconds(context.started_at));
  info->set_in_process(context.in_process);
  info->set_pid(getpid());
  info->set_instance_id(context.instance_id);
  facts.Describe(info);
}

grpc::Status AgentServiceImpl::GetHostInfo(grpc::ServerContext*,
                                           const pool::v1::GetHostInfoRequest* request,
                                           pool::v1::HostInfo* response) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  DescribeHost(*context_, addresses_->Get(), *facts_, response);
  response->set_insecure(addresses_->insecure());
  response->set_hub_endpoint(hub_endpoint_);
  response->set_hub_offline(hub_offline_);
  return grpc::Status::OK;
}

grpc::Status AgentServiceImpl::WatchEvents(grpc::ServerContext* context,
                                           const pool::v1::WatchEventsRequest* request,
                                           grpc::ServerWriter<pool::v1::AgentEvent>* writer) {
  if (absl::Status valid = Validate(*request); !valid.ok()) return ToGrpcStatus(valid);
  return StreamEvents(context, *context_->events, *request, writer);
}

}  // namespace llorch
