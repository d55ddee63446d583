// The doctor's checks of the host's files and network: submodules, the models dir, the
// configuration files, the Hub.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/vfs.h>
#endif

#include <cerrno>
#include <cstring>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/dev/doctor_checks.h"
#include "common/config.h"
#include "common/status.h"
#include "common/units.h"

namespace llorch {
namespace v1 = pool::v1;
namespace fs = std::filesystem;
namespace {

std::string Short(const std::string& sha) { return sha.substr(0, 12); }

// The file system's name for a statfs f_type; "" when not one we know.
std::string FileSystemName(const std::string& dir) {
#ifdef __linux__
  struct statfs info {};
  if (statfs(dir.c_str(), &info) != 0) return "";
  switch (static_cast<unsigned long>(info.f_type)) {
    case 0xEF53:
      return "ext4";
    case 0x58465342:
      return "xfs";
    case 0x9123683E:
      return "btrfs";
    case 0x01021994:
      return "tmpfs";
    case 0x794C7630:
      return "overlay";
    case 0x6969:
      return "nfs";
    case 0x2FC12FC1:
      return "zfs";
    case 0xFF534D42:
      return "cifs";
    case 0x65735546:
      return "fuse";
    case 0x73717368:
      return "squashfs";
    case 0x5346544E:
      return "ntfs";
    case 0x4D44:
      return "vfat";
    default:
      return absl::StrCat("0x", absl::Hex(info.f_type));
  }
#else
  (void)dir;
  return "";
#endif
}

}  // namespace

v1::Check CheckSubmodules(const DoctorRun& run) {
  if (run.options.repo.root.empty()) {
    return CheckFail(
        "no repository checkout: repo_root is not set and the agent was not started "
        "inside a git checkout",
        "run from the llama-orch checkout, or set repo_root (--repo-root, "
        "LLORCH_REPO_ROOT)");
  }
  GitRepo repo(run.options.repo);
  absl::StatusOr<std::vector<v1::Submodule>> submodules = repo.Submodules();
  if (!submodules.ok()) {
    return CheckFail(submodules.status().message(),
                     GetHint(submodules.status()).value_or("see `llorch-pool git status`"));
  }
  if (submodules->empty()) return CheckOk("no submodules declared in .gitmodules");
  std::vector<std::string> uninitialized, moved, missing;
  for (const v1::Submodule& submodule : *submodules) {
    if (submodule.missing()) {
      missing.push_back(submodule.name());
    } else if (!submodule.initialized()) {
      uninitialized.push_back(submodule.name());
    } else if (submodule.out_of_sync()) {
      moved.push_back(absl::StrCat(submodule.name(), " (at ", Short(submodule.checked_out_sha()),
                                   ", recorded ", Short(submodule.recorded_sha()), ")"));
    }
  }
  if (!uninitialized.empty()) {
    return CheckFail(absl::StrCat("not initialized: ", absl::StrJoin(uninitialized, ", ")),
                     "llorch-pool git submodules update --all");
  }
  if (!missing.empty()) {
    return CheckFail(absl::StrCat("declared in .gitmodules but not recorded in the checkout: ",
                                  absl::StrJoin(missing, ", ")),
                     "llorch-pool git pull (or fix .gitmodules)");
  }
  if (!moved.empty()) {
    return CheckWarn(absl::StrCat("not at the recorded commit: ", absl::StrJoin(moved, ", ")),
                     "llorch-pool git submodules update --all --force (or keep them there on "
                     "purpose)");
  }
  return CheckOk(absl::StrCat(submodules->size(),
                              " submodules initialized at their recorded "
                              "commits"));
}

v1::Check CheckModelsDisk(const DoctorRun& run) {
  const DoctorOptions& options = run.options;
  const std::string fix_dir = "or set models_dir (--models-dir, LLORCH_MODELS_DIR) to another";
  // A models dir that does not exist yet is created in its nearest existing parent.
  fs::path dir = options.models_dir;
  std::error_code ec;
  std::string created_note;
  while (!fs::exists(dir, ec) && dir.has_parent_path() && dir != dir.parent_path()) {
    dir = dir.parent_path();
  }
  if (dir != options.models_dir) {
    created_note = absl::StrCat(" (does not exist yet: it will be made in ", dir.string(), ")");
  }
  const std::string where = absl::StrCat(options.models_dir.string(), created_note);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd < 0) {
    return CheckFail(absl::StrCat(where, ": ", std::strerror(errno)),
                     absl::StrCat("create it and make it writable for this user, ", fix_dir));
  }
  struct statvfs space {};
  const bool have_space = fstatvfs(dir_fd, &space) == 0;
  const std::string fs_name = FileSystemName(dir.string());
  std::vector<std::string> facts = {where};
  if (!fs_name.empty()) facts.push_back(fs_name);
  const uint64_t free_bytes =
      have_space ? static_cast<uint64_t>(space.f_bavail) * space.f_frsize : 0;
  if (have_space) facts.push_back(absl::StrCat(FormatBytes(free_bytes), " free"));
  // Writable: a temporary file that is unlinked at once.
  std::string temp = (dir / ".llorch-doctor-XXXXXX").string();
  const int file_fd = mkostemp(temp.data(), O_CLOEXEC);
  if (file_fd < 0) {
    const int error = errno;
    close(dir_fd);
    return CheckFail(
        absl::StrCat(absl::StrJoin(facts, ", "), "; not writable: ", std::strerror(error)),
        absl::StrCat("make it writable for this user (uid ", geteuid(), "), ", fix_dir));
  }
  unlink(temp.c_str());
  // flock: what keeps two downloads of one model apart. NFS without lockd refuses it.
  const bool locks = flock(file_fd, LOCK_EX | LOCK_NB) == 0;
  const int lock_error = errno;
  close(file_fd);
  close(dir_fd);
  if (!locks) {
    return CheckFail(absl::StrCat(absl::StrJoin(facts, ", "), "; flock does not work here (",
                                  std::strerror(lock_error),
                                  "): two downloads of one model could write at once"),
                     absl::StrCat("enable locking on the file system (NFS: run lockd / mount "
                                  "without nolock), ",
                                  fix_dir));
  }
  facts.push_back("writable, flock works");
  const CatalogModel* largest = nullptr;
  for (const CatalogModel& model : options.catalog->models()) {
    if (largest == nullptr || model.size_bytes > largest->size_bytes) largest = &model;
  }
  if (have_space && largest != nullptr && free_bytes < largest->size_bytes) {
    return CheckWarn(absl::StrCat(absl::StrJoin(facts, ", "),
                                  "; less than the largest catalog "
                                  "model (",
                                  largest->id, ", ", FormatBytes(largest->size_bytes), ")"),
                     absl::StrCat("free space there, ", fix_dir, " file system"));
  }
  if (fs_name == "nfs") {
    return CheckWarn(absl::StrCat(absl::StrJoin(facts, ", "),
                                  "; on NFS, locks and renames are only as reliable as the "
                                  "server's"),
                     "prefer a local file system for models_dir");
  }
  return CheckOk(absl::StrJoin(facts, ", "));
}

v1::Check CheckConfigFiles(const DoctorRun& run) {
  // The walk that loads the configuration and that `dev check-config` shows: the same findings.
  const ConfigWalk walk = WalkConfigLayers(run.options.config_sources, /*keep_going=*/true);
  std::vector<std::string> read;
  for (const ConfigFileState& file : walk.files) {
    if (file.exists) read.push_back(file.path);
  }
  if (!walk.problems.empty()) {
    std::vector<std::string> lines;
    for (const ConfigProblem& problem : walk.problems) {
      lines.push_back(FormatConfigProblem(problem) +
                      (problem.fix.empty() ? "" : absl::StrCat(" (fix: ", problem.fix, ")")));
    }
    return CheckFail(absl::StrJoin(lines, "\n"),
                     "correct the lines shown (`llorch-pool dev check-config` shows them all); the "
                     "agent keeps the configuration it started with until it is restarted");
  }
  if (read.empty()) return CheckOk("no configuration file: the built-in defaults apply");
  return CheckOk(absl::StrCat("valid: ", absl::StrJoin(read, ", ")));
}

v1::Check CheckHubReachable(const DoctorRun& run) {
  const DoctorOptions& options = run.options;
  if (options.hub.offline) {
    return CheckSkipped(absl::StrCat("offline mode (HF_HUB_OFFLINE): ", options.hub.endpoint,
                                     " is not contacted; downloads are refused"));
  }
  const std::vector<CatalogModel>& models = options.catalog->models();
  if (models.empty()) return CheckSkipped("the catalog has no model to ask the Hub about");
  HubOptions hub = options.hub;
  hub.connect_timeout = options.hub_timeout;
  hub.stall_timeout = options.hub_timeout;
  hub.retry.max_attempts = 1;
  const absl::Time deadline = absl::Now() + options.hub_timeout;
  const CatalogModel& model = models.front();
  absl::StatusOr<RemoteFile> file = HubClient(hub).Resolve(
      model.repo, model.revision, model.file, [deadline] { return absl::Now() >= deadline; });
  const absl::StatusCode code = file.status().code();
  if (code == absl::StatusCode::kUnavailable || code == absl::StatusCode::kDeadlineExceeded ||
      code == absl::StatusCode::kCancelled) {
    return CheckFail(
        absl::StrCat("cannot reach ", options.hub.endpoint, " (bound ",
                     absl::FormatDuration(options.hub_timeout), "): ", file.status().message()),
        "check the network and any proxy (https_proxy, no_proxy) or HF_ENDPOINT; "
        "with HF_HUB_OFFLINE=1 the agent serves the models on disk without asking");
  }
  // Any answer (a 404 or 401 included) shows the Hub can be reached.
  return CheckOk(absl::StrCat(options.hub.endpoint, " answers"));
}

}  // namespace llorch
