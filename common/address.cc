#include "common/address.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace llorch {
namespace {

absl::Status BadAddress(absl::string_view text, absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "invalid address '", text, "': ", why,
      " (expected unix:PATH, HOST:PORT or [IPv6]:PORT, e.g. unix:/run/llorch/pool-agent.sock or "
      "127.0.0.1:9200)"));
}

}  // namespace

std::string Address::GrpcTarget() const {
  if (kind == Kind::kUnix) return absl::StrCat("unix:", path);
  if (absl::StrContains(host, ':')) return absl::StrCat("[", host, "]:", port);
  return absl::StrCat(host, ":", port);
}

bool Address::IsLocal() const {
  if (kind == Kind::kUnix) return true;
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

Address UnixAddress(std::string path) {
  Address address;
  address.kind = Address::Kind::kUnix;
  address.path = std::move(path);
  return address;
}

UnixSocketProbe ProbeUnixSocket(const std::string& path) {
  UnixSocketProbe probe;
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
    probe.error = path.empty() ? ENOENT : ENAMETOOLONG;
    return probe;
  }
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    probe.error = errno;
    return probe;
  }
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    probe.error = errno;
  } else {
    ucred credentials{};
    socklen_t size = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &size) != 0) {
      probe.error = errno;
    } else {
      probe.peer_uid = credentials.uid;
      probe.peer_gid = credentials.gid;
    }
  }
  close(fd);
  return probe;
}

bool UnixSocketAccepts(const std::string& path) { return ProbeUnixSocket(path).error == 0; }

absl::StatusOr<Address> ParseAddress(absl::string_view text) {
  if (text.empty()) return BadAddress(text, "empty");
  if (absl::StartsWith(text, "unix:")) {
    absl::string_view path = text.substr(5);
    // gRPC also writes unix:///abs/path; accept it and keep one leading slash.
    if (absl::StartsWith(path, "//")) path.remove_prefix(2);
    if (path.empty()) return BadAddress(text, "the socket path is empty");
    if (path.find('\0') != absl::string_view::npos) return BadAddress(text, "NUL in path");
    return UnixAddress(std::string(path));
  }
  Address address;
  address.kind = Address::Kind::kTcp;
  absl::string_view port_text;
  if (absl::StartsWith(text, "[")) {
    size_t close = text.find(']');
    if (close == absl::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return BadAddress(text, "an IPv6 address must look like [::1]:9200");
    }
    address.host = std::string(text.substr(1, close - 1));
    port_text = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == absl::string_view::npos) return BadAddress(text, "no port");
    address.host = std::string(text.substr(0, colon));
    if (absl::StrContains(address.host, ':')) {
      return BadAddress(text, "put an IPv6 address in brackets");
    }
    port_text = text.substr(colon + 1);
  }
  if (address.host.empty()) return BadAddress(text, "no host (use 0.0.0.0 for all interfaces)");
  for (char c : address.host) {
    if (!(absl::ascii_isalnum(c) || c == '.' || c == '-' || c == ':' || c == '_')) {
      return BadAddress(text, "the host contains an invalid character");
    }
  }
  if (!absl::SimpleAtoi(port_text, &address.port) || address.port < 0 || address.port > 65535) {
    return BadAddress(text, "the port must be a number from 0 to 65535");
  }
  return address;
}

}  // namespace llorch
