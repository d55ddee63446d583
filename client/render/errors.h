// How the CLI reports failure: "error: <what happened>" and "hint: <what to do>" on stderr, and
// the documented exit code.
//
// Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 agent unreachable, 130 interrupted, 141
// stdout's reader went away (client/output.h).
#ifndef LLORCH_CLIENT_RENDER_ERRORS_H_
#define LLORCH_CLIENT_RENDER_ERRORS_H_

#include <grpcpp/support/status.h>

#include <map>
#include <string>

#include "absl/status/status.h"
#include "client/render/style.h"
#include "llorch/pool/v1/common.pb.h"

namespace llorch {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;
inline constexpr int kExitInterrupted = 130;
inline constexpr int kExitBrokenPipe = 141;  // 128 + SIGPIPE

struct ClientError {
  std::string message;
  std::string hint;                             // empty when there is no known next step
  std::string reason;                           // machine code from the agent, e.g. MODEL_NOT_FOUND
  std::map<std::string, std::string> metadata;  // the agent's facts about it (ErrorHint)
  int exit_code = kExitFailed;
  bool unreachable = false;  // the transport reached no agent (nothing answered)
};

// Decodes a status returned by the agent, including the ErrorHint detail it may carry.
ClientError FromGrpcStatus(const grpc::Status& status);
// The same for an error raised inside the client (config, connection, arguments).
ClientError FromStatus(const absl::Status& status);
// The error an operation ended with (its final event): the agent's own account of the work, so
// never taken for an unreachable agent, whatever its code. Exit code 1.
ClientError FromOperationError(const pool::v1::RpcStatus& status);

// Prints the error (and hint) to stderr and returns its exit code.
int ReportError(const ClientError& error, const Style& stderr_style);

// The exit code for a status code when nothing more specific is known.
int ExitCodeFor(absl::StatusCode code);

}  // namespace llorch

#endif  // LLORCH_CLIENT_RENDER_ERRORS_H_
