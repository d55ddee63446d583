#include "tests/support/tool_stand_ins.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "common/subprocess.h"
#include "tests/support/run_command.h"

namespace llorch::testing {

ToolStandIns::ToolStandIns(std::string dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  const char* path = std::getenv("PATH");
  std::optional<std::string> git = FindExecutable("git", path == nullptr ? "" : path);
  if (git) std::filesystem::create_symlink(*git, dir_ + "/git");
}

void ToolStandIns::AddScript(const std::string& name, const std::string& body) {
  const std::string file = dir_ + "/" + name;
  WriteFileBytes(file, "#!/bin/sh\n" + body + "\n");
  chmod(file.c_str(), 0755);
}

void ToolStandIns::AddPrinting(const std::string& name, const std::string& line) {
  AddScript(name, "echo '" + line + "'");
}

void ToolStandIns::AddEveryTool() {
  AddPrinting("rustc", "rustc 1.95.0 (59807616e 2026-04-14)");
  AddPrinting("cargo", "cargo 1.95.0 (f2d3ce0bd 2026-03-21)");
  AddPrinting("python3", "Python 3.11.2");
  AddPrinting("hf", "huggingface_hub version: 0.36.0");
}

void ToolStandIns::AddNvidiaSmi(int gpus, bool knows_compute_cap) {
  if (gpus == 0) {
    AddScript("nvidia-smi", "echo 'No devices were found'\nexit 6");
    return;
  }
  const std::string fields = "index,uuid,name,memory.total,memory.used,memory.free,driver_version";
  // As the real one: a field it does not know is refused with exit 2.
  std::string body = "case \"$1\" in\n  --query-gpu=" + fields + ") cap='' ;;\n";
  if (knows_compute_cap) body += "  --query-gpu=" + fields + ",compute_cap) cap=', 8.0' ;;\n";
  body +=
      "  --query-gpu=*compute_cap*) echo 'Field \"compute_cap\" is not a valid field to "
      "query.' >&2; exit 2 ;;\n"
      "  *) echo \"unexpected $1\" >&2; exit 2 ;;\nesac\n";
  for (int i = 0; i < gpus; ++i) {
    body += "echo \"" + std::to_string(i) + ", GPU-0000000" + std::to_string(i) +
            "-aaaa-bbbb-cccc-dddddddddddd, NVIDIA A100-SXM4-80GB, 81920, " +
            std::to_string(100 * i) + ", " + std::to_string(81920 - 100 * i) +
            ", 550.54.15$cap\"\n";
  }
  AddScript("nvidia-smi", body);
}

void ToolStandIns::AddHangingNvidiaSmi() { AddScript("nvidia-smi", "exec /bin/sleep 600"); }

void ToolStandIns::Remove(const std::string& name) { std::filesystem::remove(dir_ + "/" + name); }

}  // namespace llorch::testing
