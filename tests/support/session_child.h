// A test program started as the agent starts a worker: in a session (and process group) of its
// own, by argv, with its stdout on a pipe the test reads line by line. On destruction its group
// is killed (SIGKILL) and it is reaped, unless the test reaped it already.
#ifndef LLORCH_TESTS_SUPPORT_SESSION_CHILD_H_
#define LLORCH_TESTS_SUPPORT_SESSION_CHILD_H_

#include <sys/types.h>

#include <cstdio>
#include <string>
#include <vector>

namespace llorch::testing {

class SessionChild {
 public:
  explicit SessionChild(const std::vector<std::string>& argv);
  ~SessionChild();
  SessionChild(const SessionChild&) = delete;
  SessionChild& operator=(const SessionChild&) = delete;

  pid_t pid() const { return pid_; }
  // The next line of its stdout without the '\n'; "" at the end.
  std::string ReadLine();
  // Reaps it and returns its exit status (128 + signal when a signal killed it).
  int Wait();

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
  bool reaped_ = false;
};

// The path of the signal_child test program (tests/support/signal_child.cc).
std::string SignalChildPath();

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_SESSION_CHILD_H_
