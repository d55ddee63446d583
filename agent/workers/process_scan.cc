#include "agent/workers/process_scan.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "agent/workers/proc_fs.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace {

std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

// What a process's executable is compared with: resolved paths and file names.
struct BinarySet {
  std::vector<std::string> paths;
  std::vector<std::string> names;

  explicit BinarySet(const std::vector<std::string>& binaries) {
    for (const std::string& binary : binaries) {
      names.push_back(FileName(binary));
      std::error_code error;
      std::filesystem::path resolved = std::filesystem::canonical(binary, error);
      if (!error) paths.push_back(resolved.string());
    }
  }

  bool Contains(const std::string& executable) const {
    return std::find(paths.begin(), paths.end(), executable) != paths.end() ||
           std::find(names.begin(), names.end(), FileName(executable)) != names.end();
  }
};

}  // namespace

WorkerFlags ParseWorkerFlags(const std::vector<std::string>& argv) {
  WorkerFlags flags;
  std::string port;
  const std::pair<absl::string_view, std::string*> known[] = {
      {"--worker-id", &flags.worker_id},
      {"--model", &flags.model},
      {"--port", &port},
      {"--callback-url", &flags.callback_url},
      {"--cuda-device", &flags.cuda_device},
      {"--metal-device", &flags.metal_device},
  };
  for (size_t i = 1; i < argv.size(); ++i) {
    for (const auto& [name, value] : known) {
      if (argv[i] == name && i + 1 < argv.size()) {
        *value = argv[++i];
        break;
      }
      if (absl::StartsWith(argv[i], name) && argv[i].size() > name.size() &&
          argv[i][name.size()] == '=') {
        *value = argv[i].substr(name.size() + 1);
        break;
      }
    }
  }
  if (!absl::SimpleAtoi(port, &flags.port) || flags.port < 0 || flags.port > 65535) flags.port = 0;
  return flags;
}

namespace {

// `pid` as a worker process, from its stat, its command line not read yet; NotFound when it has
// exited or is a zombie.
absl::StatusOr<FoundWorkerProcess> Inspect(pid_t pid, const ProcExecutable& executable) {
  absl::StatusOr<ProcStat> stat = ReadProcStat(pid);
  if (!stat.ok()) return stat.status();
  if (stat->state == 'Z') return absl::NotFoundError(absl::StrCat("pid ", pid, " has exited"));
  FoundWorkerProcess process;
  process.identity = {pid, stat->start_time, executable.path};
  process.pgid = stat->pgrp;
  return process;
}

// Adds the process's command line and the worker flags on it.
absl::Status ReadArguments(FoundWorkerProcess* process) {
  absl::StatusOr<std::vector<std::string>> argv = ReadProcCmdline(process->identity.pid);
  if (!argv.ok()) return argv.status();
  process->flags = ParseWorkerFlags(*argv);
  process->argv = *std::move(argv);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FoundWorkerProcess> IdentifyWorkerProcess(
    pid_t pid, const std::vector<std::string>& worker_binaries) {
  absl::StatusOr<ProcExecutable> executable = ReadProcExecutable(pid);
  if (absl::IsNotFound(executable.status())) {
    return absl::NotFoundError(absl::StrCat("no process has pid ", pid));
  }
  if (!executable.ok()) return executable.status();
  if (!BinarySet(worker_binaries).Contains(executable->path)) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(
                     absl::StrCat("pid ", pid, " runs ", executable->path,
                                  ", not a worker program; nothing was signalled")),
                 "`llorch-pool worker list` shows the worker processes and their pids"),
        reasons::kNotAWorkerProcess);
  }
  absl::StatusOr<FoundWorkerProcess> found = Inspect(pid, *executable);
  if (found.ok()) {
    if (absl::Status read = ReadArguments(&*found); !read.ok()) found = read;
  }
  if (absl::IsNotFound(found.status())) {
    return absl::NotFoundError(absl::StrCat("no process has pid ", pid));
  }
  return found;
}

std::vector<FoundWorkerProcess> ScanWorkerProcesses(const std::vector<std::string>& worker_binaries,
                                                    const std::unordered_set<pid_t>& known) {
  const BinarySet binaries(worker_binaries);
  std::vector<FoundWorkerProcess> found;
  for (pid_t pid : ListProcessIds()) {
    if (known.count(pid) > 0) continue;
    // The executable first: it alone decides, and reading it fails for other users' processes
    // and zombies, which are skipped.
    absl::StatusOr<ProcExecutable> executable = ReadProcExecutable(pid);
    if (!executable.ok() || !binaries.Contains(executable->path)) continue;
    absl::StatusOr<FoundWorkerProcess> process = Inspect(pid, *executable);
    if (!process.ok() || known.count(process->pgid) > 0) continue;
    if (ReadArguments(&*process).ok()) found.push_back(*std::move(process));  // else exited
  }
  return found;
}

}  // namespace llorch
