// Ports for workers. A worker binds 0.0.0.0:<port>; a port is free when this process can bind
// that too. Default ports come from the configured range, skipping the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), from which outgoing connections take their local
// ports: a worker port there could be taken by any connection between spawn and bind.
#ifndef LLORCH_AGENT_WORKERS_WORKER_PORTS_H_
#define LLORCH_AGENT_WORKERS_WORKER_PORTS_H_

#include <optional>
#include <set>

#include "absl/status/statusor.h"
#include "common/dir_fd.h"
#include "common/local_ports.h"  // PortIsFree, EphemeralPortRange

namespace llorch {

// The first port in [first, last] outside the ephemeral range, not in `taken`, and free.
std::optional<int> FirstFreePort(int first, int last, const std::set<int>& taken);

// A port chosen for a worker is free until the worker binds it, so spawns planned at the same
// time, by one agent or by CLIs without one, would all choose it. A spawn holds its port from the
// choice until the worker's state file names it: an exclusive flock(2) on `<port>.lock` in
// `dir`, taken without waiting. nullopt when another spawn holds the port; the hold lasts while
// the returned fd is open.
absl::StatusOr<std::optional<UniqueFd>> TryHoldPort(const DirFd& dir, int port);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_PORTS_H_
