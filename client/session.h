// What every command runs with: the effective configuration, output settings and a lazily
// opened connection to an agent. Commands print through it so --output, --quiet and colour
// behave the same everywhere.
#ifndef LLORCH_CLIENT_SESSION_H_
#define LLORCH_CLIENT_SESSION_H_

#include <google/protobuf/message.h>
#include <grpcpp/client_context.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "client/connection.h"
#include "client/render/errors.h"
#include "client/render/style.h"
#include "common/config.h"

namespace llorch {

enum class OutputFormat { kTable, kWide, kJson, kJsonl };

class Session {
 public:
  // `command` is the command line's command path, e.g. "llorch-pool models download".
  // `headers` false: tables without their header line (--no-headers).
  Session(Config config, ConnectOptions connect_options, int verbosity, bool quiet,
          std::string command, bool headers = true);

  const Config& config() const { return config_; }
  OutputFormat format() const { return format_; }
  // JSON of either kind (--output json or jsonl): no tables, no progress.
  bool json() const { return format_ == OutputFormat::kJson || format_ == OutputFormat::kJsonl; }
  // --output jsonl (or --events): one JSON object a line; an operation's events as they come.
  bool jsonl() const { return format_ == OutputFormat::kJsonl; }
  // --output wide: tables with more columns where a command has them (`worker list`).
  bool wide() const { return format_ == OutputFormat::kWide; }
  bool quiet() const { return quiet_; }
  int verbosity() const { return verbosity_; }
  const Style& out_style() const { return out_style_; }
  const Style& err_style() const { return err_style_; }

  // This client, for the agent to tell others (CancelOperationRequest.requested_by, the
  // `llorch-client` metadata of a call that starts an operation):
  // "`llorch-pool ops cancel` (pid 4242 on gpu-3, uid 1000)".
  std::string Describe() const;

  // --detach: an operation command returns once the operation exists, printing its id.
  bool detach() const { return detach_; }
  void set_detach(bool detach) { detach_ = detach; }

  // The channel to the agent, connecting on first use (see connection.h for the order).
  absl::StatusOr<std::shared_ptr<grpc::Channel>> Channel();

  // True once connected to an agent running inside this process (standalone mode).
  bool standalone() const { return connection_ != nullptr && connection_->in_process(); }
  // True once connected to a pool-agent process.
  bool remote() const { return connection_ != nullptr && !connection_->in_process(); }
  // True once connected over a connection a secret may travel on (Connection).
  bool SecretsMayTravel() const {
    return connection_ != nullptr && connection_->SecretsMayTravel();
  }
  // Which agent answers (Connection::description), "" before connecting.
  std::string AgentDescription() const {
    return connection_ == nullptr ? "" : connection_->description();
  }
  // The environment the command runs with (the process's, or a test's).
  const std::map<std::string, std::string>& env() const { return connect_options_.env; }
  // True once connected, when nothing of the agent needs stopping in order (Connection).
  bool NothingToStop() const { return connection_ != nullptr && connection_->NothingToStop(); }

  // A context for one unary call, with a deadline: 60 s by default, more than the slowest
  // answer (a doctor run, a model deleted) and little enough that a hung agent is noticed. Also
  // for streams whose answer is bounded (a dry run's plan, logs without --follow). Streams that
  // follow (an operation's events, `agent events`, `worker logs -f`) take as long as the work:
  // they have no deadline, and the channel's keepalive notices an agent gone (connection.cc).
  std::unique_ptr<grpc::ClientContext> NewCallContext(
      std::chrono::seconds timeout = std::chrono::seconds(60)) const;

  // Writes `text` to stdout. Results are printed even with --quiet; chatter checks quiet().
  void Print(const std::string& text) const;
  // Writes `message` as JSON to stdout: indented, or on one line with --output jsonl.
  void PrintJson(const google::protobuf::Message& message) const;
  // Writes a diagnostic line to stderr when -v was given `level` times or more.
  void Verbose(int level, const std::string& text) const;

  // Reports a failed call and returns the exit code.
  int Fail(const grpc::Status& status) const;
  int Fail(const absl::Status& status) const;

 private:
  // Says on stderr that --models-dir, --catalog or --repo-root do not reach a running agent.
  void NoteIgnoredPathFlags() const;

  Config config_;
  ConnectOptions connect_options_;
  std::string command_;
  int verbosity_;
  bool quiet_;
  bool detach_ = false;
  OutputFormat format_;
  Style out_style_;
  Style err_style_;
  std::unique_ptr<Connection> connection_;
};

}  // namespace llorch

#endif  // LLORCH_CLIENT_SESSION_H_
