#include "tests/support/fake_workers.h"

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "agent/workers/worker_record.h"

namespace llorch::testing {
namespace fs = std::filesystem;

void WriteWorkerBinDir(const std::string& dir, const std::string& fake_worker,
                       const std::vector<int>& gpu_indexes) {
  fs::create_directories(dir);
  // A program of this directory's own (a hard link, or a copy on another filesystem): the agent
  // lists processes of its worker binaries as unmanaged, and tests run in parallel must not see
  // each other's workers.
  const fs::path program = fs::path(dir) / "fake_worker";
  std::error_code linked;
  fs::create_hard_link(fake_worker, program, linked);
  if (linked) fs::copy_file(fake_worker, program);
  for (const char* name : {"llorch-cpu-candled", "llorch-cuda-candled", "llorch-metal-candled"}) {
    fs::create_symlink(program, fs::path(dir) / name);
  }
  const std::string smi = dir + "/nvidia-smi";
  std::ofstream script(smi);
  script << "#!/bin/sh\n"
         << "case \"$1\" in --query-compute-apps=*)\n"
         << "  if [ -f " << dir << "/driver-broken ]; then\n"
         << "    echo 'Failed to initialize NVML: Driver/library version mismatch' >&2; exit 18\n"
         << "  fi\n"
         << "  if [ -f " << dir << "/compute-apps ]; then\n"
         << "    while IFS=, read -r pid mib; do\n"
         << "      [ -d /proc/$pid ] && echo \"$pid, $mib\"\n"
         << "    done < " << dir << "/compute-apps\n"
         << "  fi\n"
         << "  [ -f " << dir << "/stuck-apps ] && cat " << dir << "/stuck-apps\n"
         << "  exit 0;;\n"
         << "esac\n";
  // The GPU inventory's query (gpu_inventory.h): index, uuid, name, memory, driver, compute_cap.
  for (int index : gpu_indexes) {
    script << "echo '" << index << ", GPU-" << index
           << "-fake, NVIDIA GeForce RTX 4090, 24564, 0, 24564, 550.54.15, 8.9'\n";
  }
  script.close();
  chmod(smi.c_str(), 0755);
}

void PlaceModel(const std::string& models_dir, const std::string& dir, const std::string& file,
                bool verified) {
  const fs::path model_dir = fs::path(models_dir) / dir;
  fs::create_directories(model_dir / ".llorch");
  const std::string bytes = "GGUF fake model bytes";
  std::ofstream(model_dir / file) << bytes;
  if (verified) {
    std::ofstream(model_dir / ".llorch" / (file + ".manifest.json")) << absl::StrCat(
        R"({"size": )", bytes.size(), R"(, "sha256": "", "file": ")", file, "\"}\n");
  }
}

int UnusedPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_ANY);
  bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

void KillRecordedWorkers(const std::string& state_dir) {
  if (!fs::exists(fs::path(state_dir) / "workers")) return;
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(state_dir);
  if (!records.ok()) return;
  for (const WorkerRecord& record : records->List()) {
    if (IsRecordedProcessAlive(record)) kill(-static_cast<pid_t>(record.pid), SIGKILL);
  }
}

}  // namespace llorch::testing
