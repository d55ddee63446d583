#include "client/render/errors.h"

#include <cstdio>

#include "client/render/visible.h"
#include "common/status.h"

namespace llorch {

int ExitCodeFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return kExitOk;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kOutOfRange:
      return kExitUsage;
    case absl::StatusCode::kUnavailable:
      return kExitUnreachable;
    default:
      return kExitFailed;
  }
}

namespace {

// The ErrorHint among `status`'s details, into `error`.
void TakeHint(const pool::v1::RpcStatus& status, ClientError* error) {
  for (const auto& any : status.details()) {
    pool::v1::ErrorHint hint;
    if (any.UnpackTo(&hint)) {
      error->hint = hint.hint();
      error->reason = hint.reason();
      error->metadata.insert(hint.metadata().begin(), hint.metadata().end());
    }
  }
}

}  // namespace

ClientError FromOperationError(const pool::v1::RpcStatus& status) {
  ClientError error;
  error.message =
      status.message().empty() ? "the operation failed without a message" : status.message();
  TakeHint(status, &error);
  return error;
}

ClientError FromGrpcStatus(const grpc::Status& status) {
  ClientError error;
  error.message = status.error_message();
  const auto code = static_cast<absl::StatusCode>(status.error_code());
  error.exit_code = ExitCodeFor(code);
  pool::v1::RpcStatus details;
  if (!status.error_details().empty() && details.ParseFromString(status.error_details())) {
    TakeHint(details, &error);
  }
  // An UNAVAILABLE without our details comes from the transport, not from a service.
  if (code == absl::StatusCode::kUnavailable && error.reason.empty()) {
    error.unreachable = true;
    error.message = "cannot reach the agent: " + error.message;
    if (error.hint.empty()) {
      error.hint = "start it with `pool-agent`, or run the command in-process with --standalone";
    }
  } else if (code == absl::StatusCode::kUnavailable) {
    error.exit_code = kExitFailed;  // the agent answered; something it depends on did not
  }
  if (error.message.empty()) error.message = "the agent failed without a message";
  return error;
}

ClientError FromStatus(const absl::Status& status) {
  ClientError error;
  error.message = std::string(status.message());
  error.hint = GetHint(status).value_or("");
  error.reason = GetReason(status).value_or("");
  error.exit_code = ExitCodeFor(status.code());
  return error;
}

int ReportError(const ClientError& error, const Style& style) {
  // Messages may quote what the agent found (file names, git's words): shown, never obeyed.
  std::fprintf(stderr, "%s %s\n", style.Paint("error:", Color::kRed).c_str(),
               VisibleLines(error.message).c_str());
  if (!error.hint.empty()) {
    std::fprintf(stderr, "%s %s\n", style.Paint("hint:", Color::kYellow).c_str(),
                 VisibleLines(error.hint).c_str());
  }
  return error.exit_code;
}

}  // namespace llorch
