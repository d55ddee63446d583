// What the threads of one fetch share to stop together and to narrate: the first error (which
// stops them all), the caller's cancellation, and the log. Thread-safe.
//
// The fetch's classes lock with std::mutex, each guarded member saying so: ThreadSanitizer sees
// std::mutex, but not what Debian's absl::Mutex does (not built with it), so it would take
// everything an absl::Mutex guards for raced.
#ifndef LLORCH_AGENT_MODELS_HUB_FETCH_CONTROL_H_
#define LLORCH_AGENT_MODELS_HUB_FETCH_CONTROL_H_

#include <atomic>
#include <functional>
#include <mutex>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace llorch {

class FetchControl {
 public:
  // `cancelled` (may be unset) is polled from every thread; `log` (may be unset) is called
  // from any thread, one line at a time.
  FetchControl(std::function<bool()> cancelled, std::function<void(absl::string_view)> log)
      : cancelled_(std::move(cancelled)), log_(std::move(log)) {}

  // True once an error was recorded or the caller cancelled. Cheap: poll it.
  bool Stopping() const { return Failed() || (cancelled_ && cancelled_()); }
  // True once an error was recorded.
  bool Failed() const { return failed_.load(std::memory_order_relaxed); }
  // Records `status` unless an error came first, and stops every thread.
  void Fail(absl::Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (error_.ok()) error_ = std::move(status);
    failed_.store(true);
  }
  // The first error recorded; OK when none (a cancel alone records none).
  absl::Status error() const {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }
  void Log(absl::string_view line) {
    if (!log_) return;
    std::lock_guard<std::mutex> lock(log_mu_);
    log_(line);
  }

 private:
  const std::function<bool()> cancelled_;
  const std::function<void(absl::string_view)> log_;
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  absl::Status error_;  // guarded by mu_
  std::mutex log_mu_;   // held while log_ runs: its lines never interleave
};

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HUB_FETCH_CONTROL_H_
