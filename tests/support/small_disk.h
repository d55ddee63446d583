// A nearly full disk for end-to-end tests: a tmpfs of a few MiB on a directory, seen only by the
// commands run through it (tests/support/small_disk_main.cc). The test process itself reaches
// the files there through Path().
#ifndef LLORCH_TESTS_SUPPORT_SMALL_DISK_H_
#define LLORCH_TESTS_SUPPORT_SMALL_DISK_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/run_command.h"

namespace llorch::testing {

class SmallDisk {
 public:
  // Mounts `mib` MiB on `dir` (which must exist), using the small_disk program at `program`;
  // its output goes to `log_path`. A `read_only` disk refuses every write (EROFS), even root's.
  SmallDisk(const std::string& program, const std::string& dir, uint64_t mib,
            const std::string& log_path, bool read_only = false);

  // False when no tmpfs could be mounted here (no mount or user namespaces); why is in the log.
  bool mounted() const { return mounted_; }
  // `argv`, to be run so that it sees the small disk.
  std::vector<std::string> Command(const std::vector<std::string>& argv) const;
  // `path` (absolute) as the commands run through Command() see it.
  std::string Path(const std::string& path) const;

 private:
  std::string program_;
  std::unique_ptr<BackgroundProcess> holder_;
  bool mounted_ = false;
};

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_SMALL_DISK_H_
