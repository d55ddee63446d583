// The CLI's standard output, checked: a result that did not reach its destination is a failure.
//
// Results go through WriteOutput(); main() ends with FinishOutput(), which flushes stdout and
// turns any failed write (ENOSPC on a full disk, EBADF with stdout closed, EIO) into exit code 1
// and "error: cannot write output: <reason>" on stderr. A reader that went away (EPIPE, as in
// `llorch-pool models catalog | head -1`) ended the output on purpose: no message, exit code 141
// (128 + SIGPIPE), what the shell reports for a tool that SIGPIPE killed. The CLI ignores SIGPIPE
// rather than dying of it, so that an in-process agent's pipes to its children never kill it.
#ifndef LLORCH_CLIENT_OUTPUT_H_
#define LLORCH_CLIENT_OUTPUT_H_

#include "absl/strings/string_view.h"

namespace llorch {

// Call first in main(): reserves descriptors 0-2 (common/standard_fds.h), ignores SIGPIPE.
void PrepareStandardStreams();

// Writes `text` to stdout; a failure is remembered for FinishOutput().
void WriteOutput(absl::string_view text);

// Sends what was written to stdout on its way now, for output that follows events as they come.
// False once stdout failed (remembered for FinishOutput()): the command should stop.
bool FlushOutput();

// Flushes stdout. Returns `exit_code` if every write to stdout succeeded (or the command had
// failed already); otherwise reports the failure as the header says and returns its exit code.
int FinishOutput(int exit_code);

}  // namespace llorch

#endif  // LLORCH_CLIENT_OUTPUT_H_
