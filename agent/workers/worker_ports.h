// Ports for workers. A worker binds 0.0.0.0:<port>; a port is free when this process can bind
// that too. Default ports come from the configured range, skipping the kernel's ephemeral range
// (/proc/sys/net/ipv4/ip_local_port_range), from which outgoing connections take their local
// ports: a worker port there could be taken by any connection between spawn and bind.
#ifndef LLORCH_AGENT_WORKERS_WORKER_PORTS_H_
#define LLORCH_AGENT_WORKERS_WORKER_PORTS_H_

#include <optional>
#include <set>

#include "common/local_ports.h"  // PortIsFree, EphemeralPortRange

namespace llorch {

// The first port in [first, last] outside the ephemeral range, not in `taken`, and free.
std::optional<int> FirstFreePort(int first, int last, const std::set<int>& taken);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_WORKER_PORTS_H_
