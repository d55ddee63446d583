// A pidfd (pidfd_open(2)): a handle on one process that stays with that process even after its
// pid is reused. Signals sent through it reach that process or nobody (ESRCH once it has
// exited), and its exit is waited for by poll(2) on the fd, without polling /proc or sleeping.
#ifndef LLORCH_AGENT_WORKERS_PIDFD_H_
#define LLORCH_AGENT_WORKERS_PIDFD_H_

#include <sys/types.h>

#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/dir_fd.h"

namespace llorch {

class Pidfd {
 public:
  // A handle on the process that has `pid` now. NotFound when there is none.
  static absl::StatusOr<Pidfd> Open(pid_t pid);

  pid_t pid() const { return pid_; }
  // The fd, for poll(2)/epoll(7): readable once the process has exited.
  int fd() const { return fd_.get(); }

  // True once the process has exited (it may still be a zombie); never blocks.
  bool Exited() const { return WaitForExit(absl::ZeroDuration()); }
  // Waits up to `timeout` for the process to exit; true once it has.
  bool WaitForExit(absl::Duration timeout) const;
  // Sends `signal` to this process and no other. NotFound when it has exited.
  absl::Status Signal(int signal) const;
  // Reaps the process once it has exited and returns its exit status (128 + signal when a signal
  // killed it). nullopt while it runs, or when it is not the caller's child.
  std::optional<int> Reap() const;

 private:
  Pidfd(pid_t pid, UniqueFd fd) : pid_(pid), fd_(std::move(fd)) {}

  pid_t pid_;
  UniqueFd fd_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_PIDFD_H_
