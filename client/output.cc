#include "client/output.h"

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "client/render/errors.h"
#include "common/standard_fds.h"

namespace llorch {
namespace {

int first_write_error = 0;  // errno of the first failed write to stdout; 0 = none

}  // namespace

void PrepareStandardStreams() {
  ReserveStandardDescriptors();
  std::signal(SIGPIPE, SIG_IGN);
}

void WriteOutput(absl::string_view text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) == text.size()) return;
  if (first_write_error == 0) first_write_error = errno;
}

bool FlushOutput() {
  if (std::fflush(stdout) == 0) return first_write_error == 0;
  if (first_write_error == 0) first_write_error = errno;
  return false;
}

int FinishOutput(int exit_code) {
  errno = 0;
  if (std::fflush(stdout) != 0 && first_write_error == 0) first_write_error = errno;
  // Writes that did not go through WriteOutput() (CLI11's help) leave only the stream's flag.
  if (std::ferror(stdout) == 0 && first_write_error == 0) return exit_code;
  if (exit_code != kExitOk) return exit_code;
  if (first_write_error == EPIPE) return kExitBrokenPipe;
  ClientError error;
  error.message = std::string("cannot write output: ") +
                  (first_write_error != 0 ? std::strerror(first_write_error) : "write error");
  return ReportError(error, Style::For(stderr, std::getenv("NO_COLOR") ? "never" : "auto"));
}

}  // namespace llorch
