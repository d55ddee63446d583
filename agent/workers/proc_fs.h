// Reading what /proc says about a process, for the worker code that must find, identify and stop
// worker processes.
//
// Every reader works on a process that may exit at any moment: NotFound means "no such process
// (any more)", PermissionDenied "it belongs to someone we may not inspect". /proc files claim a
// size of 0, so they are read to their end (up to a limit) rather than by their stat size.
#ifndef LLORCH_AGENT_WORKERS_PROC_FS_H_
#define LLORCH_AGENT_WORKERS_PROC_FS_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace llorch {

// The fields of /proc/PID/stat the worker code needs.
struct ProcStat {
  pid_t pid = 0;
  char state = '?';  // R, S, D, Z (zombie), T, ...
  pid_t ppid = 0;
  pid_t pgrp = 0;
  // Field 22: clock ticks after boot when the process started. With the pid, it names one
  // process for the life of the host: a reused pid comes with a later start time.
  uint64_t start_time = 0;
};

// Parses the text of /proc/PID/stat. The command name (field 2) is in parentheses and may itself
// contain spaces and parentheses, so the fields after it are counted from its last ')'.
// InvalidArgument when the text is not of that form.
absl::StatusOr<ProcStat> ParseProcStat(absl::string_view text);

// /proc/<pid>/<name>, read to its end; InvalidArgument when it exceeds `max_bytes`.
absl::StatusOr<std::string> ReadProcFile(pid_t pid, absl::string_view name,
                                         size_t max_bytes = 64 << 10);

// ParseProcStat of /proc/<pid>/stat.
absl::StatusOr<ProcStat> ReadProcStat(pid_t pid);

// The target of /proc/<pid>/exe: the program the process runs. The kernel appends " (deleted)"
// once that file was removed or replaced (a binary upgraded under a running worker); the
// suffix is taken off `path` and noted in `deleted`.
struct ProcExecutable {
  std::string path;
  bool deleted = false;
};
absl::StatusOr<ProcExecutable> ReadProcExecutable(pid_t pid);

// The arguments of /proc/<pid>/cmdline (NUL-separated). Empty for kernel threads and zombies.
absl::StatusOr<std::vector<std::string>> ReadProcCmdline(pid_t pid);

// The pids of every process in /proc now, ascending. Some will have exited by the time they are
// looked at.
std::vector<pid_t> ListProcessIds();

// The processes whose group is `pgrp`, zombies left out (a zombie holds no memory, port or GPU;
// it only waits for its parent to reap it).
std::vector<ProcStat> ListGroupMembers(pid_t pgrp);

// When a process with start time `start_time` (ProcStat.start_time, ticks after boot) started:
// the boot time (/proc/stat "btime") plus the ticks. nullopt when /proc/stat has no btime.
std::optional<absl::Time> ProcessStartedAt(uint64_t start_time);

}  // namespace llorch

#endif  // LLORCH_AGENT_WORKERS_PROC_FS_H_
