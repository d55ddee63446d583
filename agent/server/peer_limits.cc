#include "agent/server/peer_limits.h"

#include <grpcpp/server_context.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/rpc/stream_admission.h"

namespace llorch {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

class PeerLimitInterceptor final : public grpc::experimental::Interceptor {
 public:
  PeerLimitInterceptor(ServerRpcInfo* info, std::shared_ptr<PeerStreamLimits> limits)
      : info_(info), limits_(std::move(limits)) {}
  ~PeerLimitInterceptor() override {
    if (counted_) limits_->Release(peer_);
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      auto* metadata = methods->GetRecvInitialMetadata();
      metadata->erase(kStreamRefusedKey);  // the mark is the server's alone
      peer_ = PeerStreamLimits::PeerOf(info_->server_context()->peer());
      if (!peer_.empty()) {
        counted_ = limits_->Acquire(peer_);
        if (!counted_) {
          refusal_ =
              absl::StrCat("too many streaming calls from ", peer_, ": it has ", limits_->max(),
                           " open (watches, log follows, operations' streams), the most "
                           "one peer may have (agent.max_streams_per_peer); ",
                           info_->method(), " was not started");
          metadata->emplace(kStreamRefusedKey, refusal_);
        }
      }
    }
    methods->Proceed();
  }

 private:
  ServerRpcInfo* info_;
  std::shared_ptr<PeerStreamLimits> limits_;
  std::string peer_;
  bool counted_ = false;
  std::string refusal_;  // the mark's value lives as long as the call
};

class PeerLimitInterceptorFactory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit PeerLimitInterceptorFactory(std::shared_ptr<PeerStreamLimits> limits)
      : limits_(std::move(limits)) {}

  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    if (info->type() == ServerRpcInfo::Type::UNARY) return nullptr;
    // Our API's streams; gRPC's health watch and reflection hold no work of ours.
    if (!absl::StartsWith(info->method(), "/llorch.pool.v1.")) return nullptr;
    return new PeerLimitInterceptor(info, limits_);
  }

 private:
  std::shared_ptr<PeerStreamLimits> limits_;
};

}  // namespace

std::string PeerStreamLimits::PeerOf(absl::string_view grpc_peer) {
  if (absl::StartsWith(grpc_peer, "inproc")) return "";
  if (absl::StartsWith(grpc_peer, "unix")) return "unix:";
  if (absl::StartsWith(grpc_peer, "ipv4:") || absl::StartsWith(grpc_peer, "ipv6:")) {
    const size_t colon = grpc_peer.rfind(':');
    if (colon > 5) return std::string(grpc_peer.substr(0, colon));
  }
  return std::string(grpc_peer);
}

bool PeerStreamLimits::Acquire(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  int& open = open_[peer];
  if (open >= max_) {
    if (open == 0) open_.erase(peer);
    return false;
  }
  ++open;
  return true;
}

void PeerStreamLimits::Release(const std::string& peer) {
  std::lock_guard<std::mutex> lock(mutex_);
  const auto found = open_.find(peer);
  if (found == open_.end()) return;
  if (--found->second <= 0) open_.erase(found);
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
NewPeerLimitInterceptorFactory(std::shared_ptr<PeerStreamLimits> limits) {
  return std::make_unique<PeerLimitInterceptorFactory>(std::move(limits));
}

}  // namespace llorch
