#include "agent/workers/exit_watcher.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

namespace llorch {

absl::StatusOr<std::unique_ptr<ExitWatcher>> ExitWatcher::Start(OnExit on_exit) {
  UniqueFd epoll(epoll_create1(EPOLL_CLOEXEC));
  if (epoll.get() < 0) {
    return absl::InternalError(absl::StrCat("epoll_create1: ", std::strerror(errno)));
  }
  UniqueFd wake(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (wake.get() < 0) return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = wake.get();
  if (epoll_ctl(epoll.get(), EPOLL_CTL_ADD, wake.get(), &event) != 0) {
    return absl::InternalError(absl::StrCat("epoll_ctl: ", std::strerror(errno)));
  }
  return std::unique_ptr<ExitWatcher>(
      new ExitWatcher(std::move(on_exit), std::move(epoll), std::move(wake)));
}

ExitWatcher::ExitWatcher(OnExit on_exit, UniqueFd epoll, UniqueFd wake)
    : on_exit_(std::move(on_exit)), epoll_(std::move(epoll)), wake_(std::move(wake)) {
  thread_ = std::thread([this] { Run(); });
}

ExitWatcher::~ExitWatcher() {
  const uint64_t one = 1;
  (void)!write(wake_.get(), &one, sizeof(one));
  thread_.join();
}

absl::Status ExitWatcher::Watch(Pidfd pidfd, bool child) {
  const int fd = pidfd.fd();
  std::lock_guard lock(mu_);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  if (epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    return absl::InternalError(
        absl::StrCat("cannot watch process ", pidfd.pid(), ": epoll_ctl: ", std::strerror(errno)));
  }
  watched_.emplace(fd, Watched{std::move(pidfd), child});
  return absl::OkStatus();
}

void ExitWatcher::Run() {
  std::vector<epoll_event> events(16);
  while (true) {
    const int n = epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wake_.get()) return;
      std::optional<Watched> exited;
      {
        std::lock_guard lock(mu_);
        auto it = watched_.find(fd);
        if (it == watched_.end()) continue;
        epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
        exited.emplace(std::move(it->second));
        watched_.erase(it);
      }
      const std::optional<int> code = exited->child ? exited->pidfd.Reap() : std::nullopt;
      on_exit_(exited->pidfd.pid(), code);
    }
  }
}

}  // namespace llorch
