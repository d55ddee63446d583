#include "tests/support/small_disk.h"

namespace llorch::testing {

SmallDisk::SmallDisk(const std::string& program, const std::string& dir, uint64_t mib,
                     const std::string& log_path, bool read_only)
    : program_(program) {
  std::vector<std::string> hold = {program, "hold", std::to_string(mib), dir};
  if (read_only) hold.push_back("ro");
  holder_ = std::make_unique<BackgroundProcess>(hold, CommandOptions{}, log_path);
  bool exited = false;
  WaitFor([&] {
    mounted_ = ReadFileBytes(log_path).find("ready\n") != std::string::npos;
    exited = ReadFileBytes(log_path).find("small_disk: cannot") != std::string::npos;
    return mounted_ || exited;
  });
}

std::vector<std::string> SmallDisk::Command(const std::vector<std::string>& argv) const {
  std::vector<std::string> command = {program_, "run", std::to_string(holder_->pid())};
  command.insert(command.end(), argv.begin(), argv.end());
  return command;
}

std::string SmallDisk::Path(const std::string& path) const {
  return "/proc/" + std::to_string(holder_->pid()) + "/root" + path;
}

}  // namespace llorch::testing
