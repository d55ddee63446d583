// Host info benchmark: what one AgentService.GetHostInfo costs an orchestrator that polls a host
// (in-process channel of a real agent: GPUs from the fake NVML library, a git checkout, one
// downloaded model), and what the GPU inventory alone costs per read with NVML (session kept:
// memory only) and with a stand-in nvidia-smi (one process per read), side by side with what a
// shell poller would run: a script with nvidia-smi's GPU query (the same stand-in), `df -P` of
// the models dir and `git rev-parse HEAD`. Prints medians and ratios.
// Usage: host_info_bench FAKE_NVML [RUNS]
#include <grpcpp/client_context.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "bench/bench_util.h"
#include "common/gpu_inventory.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "tests/support/fake_workers.h"
#include "tests/support/test_agent.h"

namespace {

// Median wall time of `runs` calls of `call`, in milliseconds (after one call to warm up).
double TimeCalls(int runs, const std::function<void()>& call) {
  call();
  std::vector<double> millis;
  for (int i = 0; i < runs; ++i) {
    const auto start = std::chrono::steady_clock::now();
    call();
    millis.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
  }
  return llorch::bench::Median(millis);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FAKE_NVML [RUNS]\n", argv[0]);
    return 2;
  }
  const std::string fake_nvml = std::filesystem::absolute(argv[1]).string();
  const int runs = argc > 2 ? std::atoi(argv[2]) : 200;
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  std::filesystem::create_directories(work + "/bin");
  const std::string smi = work + "/bin/nvidia-smi";
  std::ofstream(smi) << "#!/bin/sh\n"
                        "echo '0, GPU-0-bench, NVIDIA H100 80GB HBM3, 81559, 1024, 80535, "
                        "550.54.15, 9.0'\n";
  chmod(smi.c_str(), 0755);
  const std::string path = work + "/bin:" + std::getenv("PATH");
  setenv("PATH", path.c_str(), 1);
  if (std::system("git init -q . && git -c user.name=b -c user.email=b@example.com commit -q "
                  "--allow-empty -m bench") != 0) {
    std::fprintf(stderr, "cannot make a git checkout in %s\n", work.c_str());
    return 1;
  }
  llorch::testing::PlaceModel(work + "/models", "tinyllama",
                              "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");

  llorch::GpuInventoryOptions nvml_options;
  nvml_options.nvml_library = fake_nvml;
  llorch::GpuInventory nvml(nvml_options);
  const double nvml_read = TimeCalls(runs, [&] { nvml.Read(); });
  const double nvml_first = TimeCalls(runs, [&] {
    llorch::GpuInventory fresh(nvml_options);
    fresh.Read();
  });
  llorch::GpuInventoryOptions smi_options;
  smi_options.nvml_library = "";
  llorch::GpuInventory smi_inventory(smi_options);
  const double smi_read = TimeCalls(runs, [&] { smi_inventory.Read(); });

  setenv("LLORCH_NVML_LIBRARY", fake_nvml.c_str(), 1);
  llorch::Config config;
  config.repo_root = work;
  absl::StatusOr<llorch::testing::TestAgent> agent =
      llorch::testing::StartTestAgent(work, /*in_process=*/true, {}, config);
  if (!agent.ok()) {
    std::fprintf(stderr, "cannot start the agent: %s\n", agent.status().ToString().c_str());
    return 1;
  }
  auto time_host_info = [&](llorch::testing::TestAgent& agent) {
    auto stub = llorch::pool::v1::AgentService::NewStub(agent.server->InProcessChannel());
    return TimeCalls(runs, [&] {
      grpc::ClientContext context;
      llorch::pool::v1::HostInfo info;
      if (!stub->GetHostInfo(&context, llorch::pool::v1::GetHostInfoRequest(), &info).ok()) {
        std::fprintf(stderr, "GetHostInfo failed\n");
        std::exit(1);
      }
    });
  };
  const double host_info = time_host_info(*agent);
  agent->server.reset();
  // The same without a checkout: what the one `git rev-parse` costs.
  absl::StatusOr<llorch::testing::TestAgent> no_repo =
      llorch::testing::StartTestAgent(work, /*in_process=*/true, {}, llorch::Config());
  const double host_info_no_repo = no_repo.ok() ? time_host_info(*no_repo) : 0;
  if (no_repo.ok()) no_repo->server.reset();

  std::ofstream(work + "/poll.sh")
      << "nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.used,memory.free,"
         "driver_version,compute_cap --format=csv,noheader,nounits\n"
         "df -P models\n"
         "git rev-parse HEAD\n";
  std::vector<llorch::bench::Command> commands = {{"sh poll.sh", {"sh", "poll.sh"}, {}}};
  llorch::bench::RunRounds(commands, std::min(runs, 50));
  const double script = llorch::bench::Median(commands[0].millis);

  std::printf("host info, medians of %d calls\n", runs);
  std::printf("  %-46s %9.3f ms   %7.3fx the shell poll\n", "GetHostInfo (in-process, NVML)",
              host_info, host_info / script);
  std::printf("  %-46s %9.3f ms   %7.3fx the shell poll\n",
              "GetHostInfo without a checkout (no git)", host_info_no_repo,
              host_info_no_repo / script);
  std::printf("  %-46s %9.3f ms\n", "GpuInventory::Read, NVML session kept", nvml_read);
  std::printf("  %-46s %9.3f ms\n", "GpuInventory first read, NVML (load, inventory)", nvml_first);
  std::printf("  %-46s %9.3f ms\n", "GpuInventory::Read, nvidia-smi (sh stand-in)", smi_read);
  std::printf("  %-46s %9.3f ms   1.000x\n", "sh: nvidia-smi stand-in, df, git rev-parse", script);
  std::filesystem::remove_all(work);
  return 0;
}
