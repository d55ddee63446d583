#include "client/session.h"

#include <unistd.h>

#include <cstdio>

#include "absl/strings/str_cat.h"
#include "client/output.h"
#include "client/render/json.h"

namespace llorch {

Session::Session(Config config, ConnectOptions connect_options, int verbosity, bool quiet,
                 std::string command, bool headers)
    : config_(std::move(config)),
      connect_options_(std::move(connect_options)),
      command_(std::move(command)),
      verbosity_(verbosity),
      quiet_(quiet),
      format_(config_.client.output == "json"    ? OutputFormat::kJson
              : config_.client.output == "jsonl" ? OutputFormat::kJsonl
              : config_.client.output == "wide"  ? OutputFormat::kWide
                                                 : OutputFormat::kTable),
      // -o wide cuts nothing: every cell whole, however wide the table gets.
      out_style_(
          Style::For(stdout, config_.client.color)
              .WithLayout(format_ == OutputFormat::kWide ? 0 : TerminalColumns(stdout), headers)),
      err_style_(Style::For(stderr, config_.client.color)) {}

std::string Session::Describe() const {
  char host[256] = {};
  gethostname(host, sizeof(host) - 1);
  return absl::StrCat("`", command_, "` (pid ", getpid(), " on ", host, ", uid ", getuid(), ")");
}

absl::StatusOr<std::shared_ptr<grpc::Channel>> Session::Channel() {
  if (!connection_) {
    absl::StatusOr<std::unique_ptr<Connection>> connection =
        Connection::Open(config_, connect_options_);
    if (!connection.ok()) return connection.status();
    connection_ = std::move(*connection);
    Verbose(1, "using " + connection_->description());
    if (!connection_->in_process() && !quiet_) NoteIgnoredPathFlags();
  }
  return connection_->channel();
}

void Session::NoteIgnoredPathFlags() const {
  for (const char* key : {"models_dir", "catalog", "repo_root"}) {
    auto origin = config_.origin.find(key);
    if (origin == config_.origin.end() || origin->second.rfind("flag ", 0) != 0) continue;
    const std::string flag = origin->second.substr(5);
    std::fprintf(stderr, "%s\n",
                 err_style_
                     .Paint("note: " + flag + " configures an agent in this process only; the " +
                                connection_->description() +
                                " keeps its own (add --standalone to use " + flag + ")",
                            Color::kYellow)
                     .c_str());
  }
}

std::unique_ptr<grpc::ClientContext> Session::NewCallContext(std::chrono::seconds timeout) const {
  auto context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(std::chrono::system_clock::now() + timeout);
  return context;
}

void Session::Print(const std::string& text) const { WriteOutput(text); }

void Session::PrintJson(const google::protobuf::Message& message) const {
  WriteOutput((jsonl() ? ToJsonLine(message) : ToJson(message)) + "\n");
}

void Session::Verbose(int level, const std::string& text) const {
  if (verbosity_ >= level)
    std::fprintf(stderr, "%s\n", err_style_.Paint(text, Color::kDim).c_str());
}

int Session::Fail(const grpc::Status& status) const {
  ClientError error = FromGrpcStatus(status);
  if (error.unreachable && connection_ != nullptr) {
    if (absl::Status unreachable = connection_->Unreachable(status.error_message());
        !unreachable.ok()) {
      ClientError named = FromStatus(unreachable);
      named.exit_code = error.exit_code;
      error = std::move(named);
    }
  }
  return ReportError(error, err_style_);
}

int Session::Fail(const absl::Status& status) const {
  return ReportError(FromStatus(status), err_style_);
}

}  // namespace llorch
