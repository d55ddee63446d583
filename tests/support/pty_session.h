// Runs a program on a pseudo-terminal, as a person at a terminal would: its stdin, stdout and
// stderr are the terminal (isatty() is true, the window has a size, Ctrl-C is a keystroke), and
// the test reads what the screen received and types answers. For prompts, colours and progress.
#ifndef LLORCH_TESTS_SUPPORT_PTY_SESSION_H_
#define LLORCH_TESTS_SUPPORT_PTY_SESSION_H_

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "tests/support/run_command.h"

namespace llorch::testing {

class PtySession {
 public:
  // Starts `argv` with `options.env` and `options.working_dir` on a new terminal of
  // `columns` x `rows`, in a session of its own (the terminal is its controlling one).
  PtySession(const std::vector<std::string>& argv, const CommandOptions& options, int columns = 100,
             int rows = 30);
  ~PtySession();  // SIGKILL and reap when still running
  PtySession(const PtySession&) = delete;
  PtySession& operator=(const PtySession&) = delete;

  // Reads until `text` is among what the terminal received, or `timeout` passes or the program
  // ends first; true when it appeared.
  bool WaitFor(const std::string& text,
               std::chrono::milliseconds timeout = std::chrono::seconds(20));
  // Types `keys` ("y\r", "\x03" for Ctrl-C).
  void Type(const std::string& keys);
  // Reads the rest until the program exits (SIGKILL after `timeout`); its exit code, 128 +
  // signal when killed.
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Everything the terminal received so far, escapes included ("\r\n" line ends).
  const std::string& screen() const { return screen_; }
  // The same as a person reads it: colour and cursor escapes (ESC [ ... letter) removed, "\r\n"
  // as "\n".
  std::string text() const;

 private:
  // Appends what is readable within `timeout`: the number of bytes, 0 for none, -1 once the
  // terminal closed.
  int ReadSome(std::chrono::milliseconds timeout);

  int master_ = -1;
  pid_t pid_ = -1;
  int exit_code_ = -1;
  std::string screen_;
};

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_PTY_SESSION_H_
