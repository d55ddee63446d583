// gRPC endpoint addresses as users write them: `unix:PATH` or `HOST:PORT` (`[::1]:PORT` for IPv6).
//
// The same forms are accepted by `pool-agent --listen` and `llorch-pool --agent`, so what an
// operator passes to one works with the other.
#ifndef LLORCH_COMMON_ADDRESS_H_
#define LLORCH_COMMON_ADDRESS_H_

#include <sys/types.h>

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

struct Address {
  enum class Kind { kUnix, kTcp };
  Kind kind = Kind::kUnix;
  std::string path;  // kUnix: the socket path as given
  std::string host;  // kTcp: host name or IP literal, without brackets
  int port = 0;      // kTcp: 0-65535; 0 lets a listener take any free port

  // The target string gRPC understands ("unix:/run/x.sock", "127.0.0.1:9200", "[::1]:9200").
  std::string GrpcTarget() const;
  // True for unix sockets and for TCP on localhost, 127.0.0.0/8 or ::1.
  bool IsLocal() const;
};

// Parses `text`; errors say which form was expected.
absl::StatusOr<Address> ParseAddress(absl::string_view text);

// The address of a unix socket at `path`.
Address UnixAddress(std::string path);

// What one connect(2) to a unix socket found.
struct UnixSocketProbe {
  int error = 0;       // errno of the connect (ENOENT, ECONNREFUSED, EACCES, ...); 0 = accepted
  uid_t peer_uid = 0;  // when accepted: the user and group of the process that listens
  gid_t peer_gid = 0;  // (SO_PEERCRED, as of its listen(2))
};

// Connects to the unix socket at `path` and hangs up at once. A missing file or a stale socket
// answers at once (ENOENT, ECONNREFUSED).
UnixSocketProbe ProbeUnixSocket(const std::string& path);

// True when something accepts connections on the unix socket at `path` (ProbeUnixSocket).
bool UnixSocketAccepts(const std::string& path);

}  // namespace llorch

#endif  // LLORCH_COMMON_ADDRESS_H_
