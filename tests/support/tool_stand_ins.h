// A controlled PATH for tests of what the agent finds on a host: a directory of stand-ins the
// test writes (small shell scripts that print what the real tool prints), with the real git
// linked in. The PATH is this directory alone, so a tool the test did not add is missing.
#ifndef LLORCH_TESTS_SUPPORT_TOOL_STAND_INS_H_
#define LLORCH_TESTS_SUPPORT_TOOL_STAND_INS_H_

#include <string>

namespace llorch::testing {

class ToolStandIns {
 public:
  // Makes `dir` (created) with git linked to the git of the test's PATH.
  explicit ToolStandIns(std::string dir);

  // The value for PATH.
  const std::string& path() const { return dir_; }

  // `name` as a /bin/sh script running `body`.
  void AddScript(const std::string& name, const std::string& body);
  // `name` printing `line` and exiting 0.
  void AddPrinting(const std::string& name, const std::string& line);
  // rustc, cargo, python3 and hf printing their versions: a host with every tool.
  void AddEveryTool();
  // nvidia-smi answering the GPU inventory's --query-gpu with `gpus` A100s of compute capability
  // 8.0 ("No devices were found", exit 6, for 0, as the real one). Without `knows_compute_cap`, a
  // driver before 510: asked for compute_cap it refuses the query (exit 2), as the real one.
  void AddNvidiaSmi(int gpus, bool knows_compute_cap = true);
  // nvidia-smi that never answers (a stuck driver).
  void AddHangingNvidiaSmi();
  void Remove(const std::string& name);

 private:
  std::string dir_;
};

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_TOOL_STAND_INS_H_
