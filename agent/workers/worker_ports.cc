#include "agent/workers/worker_ports.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/local_ports.h"

namespace llorch {

std::optional<int> FirstFreePort(int first, int last, const std::set<int>& taken) {
  const auto [ephemeral_low, ephemeral_high] = EphemeralPortRange();
  for (int port = first; port <= last; ++port) {
    if (port >= ephemeral_low && port <= ephemeral_high) continue;
    if (taken.count(port) > 0) continue;
    if (PortIsFree(port)) return port;
  }
  return std::nullopt;
}

absl::StatusOr<std::optional<UniqueFd>> TryHoldPort(const DirFd& dir, int port) {
  absl::StatusOr<UniqueFd> lock = dir.OpenFile(absl::StrCat(port, ".lock"), O_RDWR | O_CREAT, 0600);
  if (!lock.ok()) return lock.status();
  if (flock(lock->get(), LOCK_EX | LOCK_NB) == 0) return std::optional<UniqueFd>(*std::move(lock));
  if (errno == EWOULDBLOCK) return std::optional<UniqueFd>();
  return absl::InternalError(absl::StrCat("cannot lock ",
                                          dir.PathOf(absl::StrCat(port, ".lock")).string(), ": ",
                                          std::strerror(errno)));
}

}  // namespace llorch
