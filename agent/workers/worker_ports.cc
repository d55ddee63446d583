#include "agent/workers/worker_ports.h"

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

}  // namespace llorch
