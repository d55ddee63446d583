// Ctrl-C for commands that stream: while an InterruptWatch lives, the first SIGINT sets
// Interrupted() and runs its action on a thread of its own (never in the signal handler), e.g. to
// cancel the call or ask the agent to cancel an operation; a second SIGINT kills the process as
// usual. Commands that were interrupted exit 130 (kExitInterrupted).
#ifndef LLORCH_CLIENT_INTERRUPT_H_
#define LLORCH_CLIENT_INTERRUPT_H_

#include <signal.h>

#include <atomic>
#include <functional>
#include <thread>

namespace llorch {

class InterruptWatch {
 public:
  explicit InterruptWatch(std::function<void()> on_interrupt);
  ~InterruptWatch();
  InterruptWatch(const InterruptWatch&) = delete;
  InterruptWatch& operator=(const InterruptWatch&) = delete;

  // True once Ctrl-C was pressed while the latest watch lived.
  static bool Interrupted();

 private:
  void Watch();

  std::function<void()> on_interrupt_;
  struct sigaction previous_ {};
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace llorch

#endif  // LLORCH_CLIENT_INTERRUPT_H_
