// How llorch-pool reaches an agent. In order of precedence:
//   1. --agent ADDR, or the configured agent (agent.address / LLORCH_AGENT): used as given;
//   2. the default socket (the user's, then the system one) if an agent answers there;
//   3. otherwise an agent started inside this process, reached over a gRPC in-process channel.
// --standalone skips 1 and 2. All paths run the same service code.
#ifndef LLORCH_CLIENT_CONNECTION_H_
#define LLORCH_CLIENT_CONNECTION_H_

#include <grpcpp/channel.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/config.h"

namespace llorch {

class AgentServer;

struct ConnectOptions {
  bool standalone = false;
  std::map<std::string, std::string> env;  // for the default socket paths
  std::filesystem::path working_dir;       // for an in-process agent's relative paths
};

class Connection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Open(const Config& config,
                                                          const ConnectOptions& options);
  ~Connection();

  const std::shared_ptr<grpc::Channel>& channel() const { return channel_; }
  bool in_process() const { return server_ != nullptr; }
  // Which agent answers and why it was chosen, for -v.
  const std::string& description() const { return description_; }

 private:
  Connection() = default;

  std::unique_ptr<AgentServer> server_;  // set in standalone mode
  std::shared_ptr<grpc::Channel> channel_;
  std::string description_;
};

}  // namespace llorch

#endif  // LLORCH_CLIENT_CONNECTION_H_
