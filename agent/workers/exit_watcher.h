// Exit detection without polling: one thread waits in epoll(7) on a pidfd per watched process
// (a pidfd turns readable when its process exits) and on an eventfd that wakes it to stop. When
// a watched process exits, its status is collected if it is this process's child (waitid on
// the pidfd, which reaps it: the exit code, or 128+N for signal N) and left unknown (nullopt)
// if it is not (a re-adopted worker, whose parent is someone else), and `on_exit` is called on
// the watcher's thread with no lock of the watcher held. Adding a process needs no wake-up:
// epoll_ctl takes effect in a running epoll_wait. Thread-safe.
#ifndef LLORCH_AGENT_WORKERS_EXIT_WATCHER_H_
#define LLORCH_AGENT_WORKERS_EXIT_WATCHER_H_

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/status/statusor.h"
#include "agent/workers/pidfd.h"
#include "common/dir_fd.h"

namespace llorch {

class ExitWatcher {
 public:
  using OnExit = std::function<void(pid_t pid, std::optional<int> exit_code)>;

  static absl::StatusOr<std::unique_ptr<ExitWatcher>> Start(OnExit on_exit);
  // Stops the thread; the watched processes are left alone (and not reaped).
  ~ExitWatcher();

  // Watches the process of `pidfd` until it exits (at once if it already has). `child`: this
  // process started it, so its status is collected.
  absl::Status Watch(Pidfd pidfd, bool child);

 private:
  struct Watched {
    Pidfd pidfd;
    bool child;
  };
  ExitWatcher(OnExit on_exit, UniqueFd epoll, UniqueFd wake);
  void Run();

  const OnExit on_exit_;
  const UniqueFd epoll_;
  const UniqueFd wake_;  // eventfd: written once to stop the thread
  std::mutex mu_;
  std::map<int, Watched> watched_;  // by pidfd
  std::thread thread_;
};

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_EXIT_WATCHER_H_
