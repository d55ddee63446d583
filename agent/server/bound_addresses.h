// The addresses the server actually listens on (a TCP port 0 becomes the port the kernel chose),
// known only after the server started, and whether its TCP listeners were allowed without
// authentication or TLS (--insecure). Read by AgentService from any thread.
#ifndef LLORCH_AGENT_SERVER_BOUND_ADDRESSES_H_
#define LLORCH_AGENT_SERVER_BOUND_ADDRESSES_H_

#include <mutex>
#include <string>
#include <vector>

namespace llorch {

class BoundAddresses {
 public:
  void Set(std::vector<std::string> addresses) {
    std::lock_guard<std::mutex> lock(mutex_);
    addresses_ = std::move(addresses);
  }
  std::vector<std::string> Get() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return addresses_;
  }
  void SetInsecure(bool insecure) {
    std::lock_guard<std::mutex> lock(mutex_);
    insecure_ = insecure;
  }
  bool insecure() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return insecure_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::string> addresses_;
  bool insecure_ = false;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_SERVER_BOUND_ADDRESSES_H_
