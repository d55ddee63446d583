#include "client/interrupt.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace llorch {
namespace {

std::atomic<bool> interrupted{false};
int wake_pipe[2] = {-1, -1};  // the signal handler and the destructor wake the watcher here

void OnInterrupt(int) {
  interrupted.store(true);
  const char byte = 'i';
  [[maybe_unused]] ssize_t n = write(wake_pipe[1], &byte, 1);
}

}  // namespace

InterruptWatch::InterruptWatch(std::function<void()> on_interrupt)
    : on_interrupt_(std::move(on_interrupt)) {
  interrupted.store(false);
  if (pipe2(wake_pipe, O_CLOEXEC) != 0) return;  // no Ctrl-C handling; the default applies
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  action.sa_flags = SA_RESETHAND;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &previous_);
  thread_ = std::thread([this] { Watch(); });
}

InterruptWatch::~InterruptWatch() {
  if (!thread_.joinable()) return;
  sigaction(SIGINT, &previous_, nullptr);
  done_.store(true);
  const char byte = 'd';
  [[maybe_unused]] ssize_t n = write(wake_pipe[1], &byte, 1);
  thread_.join();
  close(wake_pipe[0]);
  close(wake_pipe[1]);
}

bool InterruptWatch::Interrupted() { return interrupted.load(); }

void InterruptWatch::Watch() {
  char byte;
  while (read(wake_pipe[0], &byte, 1) == 1 || errno == EINTR) {
    if (done_.load()) return;
    if (!interrupted.load()) continue;
    on_interrupt_();
    return;
  }
}

}  // namespace llorch
