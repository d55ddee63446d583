#include "agent/workers/pidfd.h"

#include <poll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace llorch {
namespace {

// Debian 12's glibc declares pidfd_open and pidfd_send_signal in <sys/pidfd.h> without C
// linkage, so C++ cannot link them: the system calls directly.
int PidfdOpen(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0u)); }
int PidfdSendSignal(int pidfd, int signal) {
  return static_cast<int>(syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0u));
}

}  // namespace

absl::StatusOr<Pidfd> Pidfd::Open(pid_t pid) {
  int fd = PidfdOpen(pid);
  if (fd < 0) {
    std::string message = absl::StrCat("process ", pid, ": ", std::strerror(errno));
    if (errno == ESRCH) return absl::NotFoundError(message);
    return absl::InternalError(message);
  }
  return Pidfd(pid, UniqueFd(fd));
}

bool Pidfd::WaitForExit(absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    pollfd entry{fd_.get(), POLLIN, 0};
    const int64_t left_ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
    const int ready = poll(&entry, 1, static_cast<int>(std::min<int64_t>(left_ms, 1 << 30)));
    if (ready > 0) return true;
    if (ready == 0) return false;
    if (errno != EINTR) return false;
  }
}

absl::Status Pidfd::Signal(int signal) const {
  if (PidfdSendSignal(fd_.get(), signal) == 0) return absl::OkStatus();
  std::string message =
      absl::StrCat("signal ", signal, " to process ", pid_, ": ", std::strerror(errno));
  if (errno == ESRCH) return absl::NotFoundError(message);
  if (errno == EPERM) return absl::PermissionDeniedError(message);
  return absl::InternalError(message);
}

std::optional<int> Pidfd::Reap() const {
  siginfo_t info{};
  if (waitid(P_PIDFD, static_cast<id_t>(fd_.get()), &info, WEXITED | WNOHANG) != 0 ||
      info.si_pid == 0) {
    return std::nullopt;
  }
  return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
}

}  // namespace llorch
