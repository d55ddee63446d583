// How many streaming calls one peer may have open at once, so that a peer holding or flooding
// streams cannot take the agent from the others.
//
// Streaming calls are what lasts: watches (WatchEvents, WatchOperation), log follows
// (GetWorkerLogs) and every RPC that runs an operation while it streams its events; each holds
// one of the server's threads for as long as it streams. Each llorch.pool.v1 streaming call is
// counted against its peer from its first metadata to its end; the call beyond the limit is
// marked, and its handler refuses it before it runs anything (agent/rpc/stream_admission.h):
// RESOURCE_EXHAUSTED, reason TOO_MANY_STREAMS. Unary calls are not counted: they are short,
// and a peer at its stream limit can still ask `agent info` or cancel an operation.
//
// The peer is who gRPC says called, without the port: a TCP client is its IP address (all its
// connections together), every caller of the unix sockets is one peer ("unix:"), since gRPC
// 1.51 gives no uid of a unix peer, and the in-process channel (the CLI's own agent) is not
// counted. Tokens and client certificates say a role, not who: two orchestrators with the same
// token on two hosts are two peers, and one host with two tokens is one.
#ifndef LLORCH_AGENT_SERVER_PEER_LIMITS_H_
#define LLORCH_AGENT_SERVER_PEER_LIMITS_H_

#include <grpcpp/support/server_interceptor.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "absl/strings/string_view.h"

namespace llorch {

class PeerStreamLimits {
 public:
  explicit PeerStreamLimits(int max_streams_per_peer) : max_(max_streams_per_peer) {}

  // The peer a gRPC peer string ("ipv4:10.0.0.5:51234", "ipv6:[::1]:40000", "unix:",
  // "inproc") counts as: without the port; "" for the in-process channel (not counted).
  static std::string PeerOf(absl::string_view grpc_peer);

  // Counts one more stream of `peer`, or returns false when it has the most it may have.
  bool Acquire(const std::string& peer);
  void Release(const std::string& peer);

  int max() const { return max_; }

 private:
  const int max_;
  std::mutex mutex_;
  std::map<std::string, int> open_;  // peers with at least one stream
};

// The interceptor that counts and marks (see above), for the server's builder.
std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewPeerLimitInterceptorFactory(std::shared_ptr<PeerStreamLimits> limits);

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_PEER_LIMITS_H_
