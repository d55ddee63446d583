#include "common/standard_fds.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace llorch {

void ReserveStandardDescriptors() {
  for (int fd = 0; fd <= 2; ++fd) {
    if (fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    // open() returns the lowest free descriptor: this one, as the lower ones are open by now.
    const int placeholder = open("/dev/null", O_RDONLY);
    if (placeholder >= 0 && placeholder != fd) close(placeholder);
  }
}

}  // namespace llorch
