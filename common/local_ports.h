// Facts about this host's TCP ports, shared by the worker domain (choosing worker ports) and the
// configuration check (whether the configured listeners and ranges can work).
#ifndef LLORCH_COMMON_LOCAL_PORTS_H_
#define LLORCH_COMMON_LOCAL_PORTS_H_

#include <utility>

namespace llorch {

// True when 0.0.0.0:`port` (TCP) can be bound right now, as a server binds (SO_REUSEADDR:
// connections in TIME_WAIT do not make a port busy).
bool PortIsFree(int port);

// The kernel's ephemeral port range (/proc/sys/net/ipv4/ip_local_port_range), from which
// outgoing connections take their local ports; 32768-60999 (Linux's default) when it cannot be
// read.
std::pair<int, int> EphemeralPortRange();

}  // namespace llorch

#endif  // LLORCH_COMMON_LOCAL_PORTS_H_
