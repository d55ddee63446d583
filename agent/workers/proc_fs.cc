#include "agent/workers/proc_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/dir_fd.h"

namespace llorch {
namespace {

// The status for a failed /proc read of `what`: a process that is gone (ENOENT, ESRCH) is
// NotFound, one we may not look at PermissionDenied.
absl::Status ProcError(int error, const std::string& what) {
  std::string message = absl::StrCat(what, ": ", std::strerror(error));
  switch (error) {
    case ENOENT:
    case ESRCH:
      return absl::NotFoundError(message);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(message);
    default:
      return absl::InternalError(message);
  }
}

std::string ProcPath(pid_t pid, absl::string_view name) {
  return absl::StrCat("/proc/", pid, "/", name);
}

}  // namespace

absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text) {
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == absl::string_view::npos || close == absl::string_view::npos || close < open) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line: no (comm)");
  }
  ProcStat stat;
  if (!absl::SimpleAtoi(text.substr(0, open), &stat.pid)) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line: no pid");
  }
  // Field 3 (state) is the first after ")"; field 22 (starttime) is the 20th.
  std::vector<absl::string_view> fields =
      absl::StrSplit(text.substr(close + 1), ' ', absl::SkipEmpty());
  if (fields.size() < 20 || fields[0].size() != 1 || !absl::SimpleAtoi(fields[1], &stat.ppid) ||
      !absl::SimpleAtoi(fields[2], &stat.pgrp) ||
      !absl::SimpleAtoi(absl::StripTrailingAsciiWhitespace(fields[19]), &stat.start_time)) {
    return absl::InvalidArgumentError("not a /proc/PID/stat line: fields after (comm)");
  }
  stat.state = fields[0][0];
  return stat;
}

absl::StatusOr<std::string> ReadProcFile(pid_t pid, absl::string_view name, size_t max_bytes) {
  const std::string path = ProcPath(pid, name);
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ProcError(errno, path);
  std::string text;
  char buffer[4096];
  while (true) {
    ssize_t n = read(fd.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ProcError(errno, path);
    if (n == 0) return text;
    if (text.size() + static_cast<size_t>(n) > max_bytes) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": longer than ", max_bytes, " bytes"));
    }
    text.append(buffer, static_cast<size_t>(n));
  }
}

absl::StatusOr<ProcStat> ReadProcStat(pid_t pid) {
  // The kernel writes the whole line at the first read (about 300 bytes; the command name is at
  // most 64): one read that ends with the line's newline has it all, without a second read to
  // see the end of the file. Anything else is read to its end.
  const std::string path = ProcPath(pid, "stat");
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return ProcError(errno, path);
  char buffer[4096];
  const ssize_t n = read(fd.get(), buffer, sizeof(buffer));
  if (n > 0 && static_cast<size_t>(n) < sizeof(buffer) && buffer[n - 1] == '\n') {
    return ParseProcStat(absl::string_view(buffer, static_cast<size_t>(n)));
  }
  absl::StatusOr<std::string> text = ReadProcFile(pid, "stat");
  if (!text.ok()) return text.status();
  return ParseProcStat(*text);
}

absl::StatusOr<ProcExecutable> ReadProcExecutable(pid_t pid) {
  const std::string path = ProcPath(pid, "exe");
  char target[4096];
  ssize_t n = readlink(path.c_str(), target, sizeof(target));
  if (n < 0) return ProcError(errno, path);
  if (static_cast<size_t>(n) == sizeof(target)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": target too long"));
  }
  ProcExecutable executable{std::string(target, static_cast<size_t>(n)), false};
  constexpr absl::string_view kDeleted = " (deleted)";
  if (absl::EndsWith(executable.path, kDeleted)) {
    executable.path.resize(executable.path.size() - kDeleted.size());
    executable.deleted = true;
  }
  return executable;
}

absl::StatusOr<std::vector<std::string>> ReadProcCmdline(pid_t pid) {
  absl::StatusOr<std::string> text = ReadProcFile(pid, "cmdline", 1 << 20);
  if (!text.ok()) return text.status();
  if (!text->empty() && text->back() == '\0') text->pop_back();
  if (text->empty()) return std::vector<std::string>{};
  return std::vector<std::string>(absl::StrSplit(*text, '\0'));
}

std::vector<pid_t> ListProcessIds() {
  std::vector<pid_t> pids;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return pids;
  while (const dirent* entry = readdir(proc)) {
    pid_t pid = 0;
    if (absl::SimpleAtoi(entry->d_name, &pid) && pid > 0) pids.push_back(pid);
  }
  closedir(proc);
  std::sort(pids.begin(), pids.end());
  return pids;
}

std::vector<ProcStat> ListGroupMembers(pid_t pgrp) {
  std::vector<ProcStat> members;
  for (pid_t pid : ListProcessIds()) {
    absl::StatusOr<ProcStat> stat = ReadProcStat(pid);
    if (stat.ok() && stat->pgrp == pgrp && stat->state != 'Z') members.push_back(*stat);
  }
  return members;
}

std::optional<absl::Time> ProcessStartedAt(uint64_t start_time) {
  std::ifstream stat("/proc/stat");
  std::string text;
  while (std::getline(stat, text)) {
    absl::string_view line = text;
    int64_t boot = 0;
    if (absl::ConsumePrefix(&line, "btime ") && absl::SimpleAtoi(line, &boot)) {
      const int64_t ticks_per_second = sysconf(_SC_CLK_TCK);
      if (ticks_per_second <= 0) return std::nullopt;
      return absl::FromUnixSeconds(boot) +
             absl::Milliseconds(static_cast<int64_t>(start_time) * 1000 / ticks_per_second);
    }
  }
  return std::nullopt;
}

}  // namespace llorch
