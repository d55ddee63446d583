// Git benchmark: `llorch-pool git status` (standalone) of a checkout with 4 submodules side by side
// with a shell script running the same commands one after another (what `llorch-git status`
// did), and, for reference, plain `git status` and `git submodule status` of the same checkout.
// The checkout is built once with the git CLI, under an isolated git configuration. Interleaved
// rounds; prints medians and ratios to the sequential script.
// Usage: git_bench LLORCH_POOL [RUNS]
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "bench/bench_util.h"

namespace {

constexpr int kSubmodules = 4;
constexpr int kSubmoduleFiles = 300;
constexpr int kSubmoduleCommits = 3;
constexpr int kSuperFiles = 300;

// Runs argv (looked up in PATH) with stdout to /dev/null and stderr kept, so that a failing
// setup step says why; exits the benchmark if it fails.
void Run(const std::vector<std::string>& argv) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = 0;
  int status = 0;
  const bool started = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ) == 0;
  posix_spawn_file_actions_destroy(&actions);
  if (started) waitpid(pid, &status, 0);
  if (!started || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "setup step failed: %s\n", absl::StrJoin(argv, " ").c_str());
    std::exit(1);
  }
}

// `git -C dir args...`
void Git(const std::string& dir, std::vector<std::string> args) {
  args.insert(args.begin(), {"git", "-C", dir});
  Run(args);
}

// Writes `count` small files under `dir` (in a few subdirectories), each naming `tag`.
void WriteFiles(const std::filesystem::path& dir, int count, const std::string& tag) {
  for (int i = 0; i < count; ++i) {
    const std::filesystem::path sub = dir / absl::StrCat("d", i % 10);
    std::filesystem::create_directories(sub);
    std::ofstream(sub / absl::StrCat("f", i, ".txt")) << tag << " file " << i << "\n"
                                                      << std::string(64 + i % 200, 'x') << "\n";
  }
}

// One shell word: 'text', with any ' inside escaped.
std::string Quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  return out;
}

// Builds, under `work`, kSubmodules bare submodule repos and a superproject that adds them by
// file:// URL, and returns the path of a `git clone --recurse-submodules` of it (with one changed
// file in the superproject and in the first submodule, and one untracked file). Fills `paths`
// with the submodule paths.
std::string BuildCheckout(const std::string& work, std::vector<std::string>* paths) {
  const std::string src = absl::StrCat(work, "/src");
  for (int n = 1; n <= kSubmodules; ++n) {
    const std::string name = absl::StrCat("sub", n);
    const std::string dir = absl::StrCat(src, "/", name);
    Run({"git", "init", "-q", dir});
    for (int commit = 1; commit <= kSubmoduleCommits; ++commit) {
      WriteFiles(dir, kSubmoduleFiles, absl::StrCat(name, " commit ", commit));
      Git(dir, {"add", "-A"});
      Git(dir, {"commit", "-q", "-m", absl::StrCat(name, ": commit ", commit)});
    }
    Run({"git", "clone", "-q", "--bare", dir, absl::StrCat(work, "/", name, ".git")});
  }
  const std::string super = absl::StrCat(src, "/super");
  Run({"git", "init", "-q", super});
  WriteFiles(super, kSuperFiles, "super");
  Git(super, {"add", "-A"});
  Git(super, {"commit", "-q", "-m", "super: files"});
  for (int n = 1; n <= kSubmodules; ++n) {
    const std::string path = absl::StrCat("reference/sub", n);
    Git(super, {"-c", "protocol.file.allow=always", "submodule", "add", "-q",
                absl::StrCat("file://", work, "/sub", n, ".git"), path});
    paths->push_back(path);
  }
  Git(super, {"commit", "-q", "-m", "super: submodules"});
  const std::string repo = absl::StrCat(work, "/repo");
  Run({"git", "-c", "protocol.file.allow=always", "clone", "-q", "--recurse-submodules",
       absl::StrCat("file://", super), repo});
  std::ofstream(absl::StrCat(repo, "/d0/f0.txt"), std::ios::app) << "changed\n";
  std::ofstream(absl::StrCat(repo, "/", paths->front(), "/d1/f1.txt"), std::ios::app)
      << "changed\n";
  std::ofstream(absl::StrCat(repo, "/notes.txt")) << "untracked\n";
  return repo;
}

// The sequential shell script: the commands `llorch-pool git status` runs, one after another.
std::string WriteScript(const std::string& work, const std::string& repo,
                        const std::vector<std::string>& paths) {
  const std::string script = absl::StrCat(work, "/git-status.sh");
  std::ofstream out(script);
  const std::string git = absl::StrCat("git -C ", Quote(repo));
  out << "set -e\n"
      << git << " status --porcelain=v2 --branch --ignore-submodules=dirty\n"
      << git << " log -1 --format=%H%x1f%s\n"
      << git << " config -f .gitmodules --list\n"
      << git << " ls-files -s --";
  for (const std::string& path : paths) out << " " << Quote(path);
  out << "\n";
  for (const std::string& path : paths) {
    out << "git -C " << Quote(absl::StrCat(repo, "/", path)) << " status --porcelain=v2 --branch\n";
  }
  out << "rustc --version || true\n"
      << "cargo --version || true\n";
  return script;
}

}  // namespace

int main(int argc, char** argv) {
  using llorch::bench::Command;
  const llorch::bench::Args args = llorch::bench::ParseArgs(argc, argv, 20);
  const std::string& cli = args.cli;
  const int runs = args.runs;
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  // Every git below, ours and the script's, reads only this configuration.
  const std::string gitconfig = absl::StrCat(work, "/gitconfig");
  std::ofstream(gitconfig) << "[user]\n\tname = Bench\n\temail = bench@example.invalid\n"
                           << "[protocol \"file\"]\n\tallow = always\n"
                           << "[init]\n\tdefaultBranch = main\n";
  setenv("GIT_CONFIG_GLOBAL", gitconfig.c_str(), 1);
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  std::vector<std::string> paths;
  const std::string repo = BuildCheckout(work, &paths);
  const std::string script = WriteScript(work, repo, paths);

  std::vector<Command> commands = {
      {"git status (plain)", {"git", "-C", repo, "status"}, {}},
      {"git submodule status", {"git", "-C", repo, "submodule", "status"}, {}},
      {"sequential script (sh)", {"sh", script}, {}},
      {"llorch-pool git status",
       {cli, "--standalone", "--repo-root", repo, "-q", "git", "status"},
       {}},
  };
  llorch::bench::RunRounds(commands, runs);
  std::filesystem::remove_all(work);
  std::printf(
      "git status of a checkout with %d submodules (%d files each, %d in the superproject), "
      "median of %d runs\n",
      kSubmodules, kSubmoduleFiles, kSuperFiles, runs);
  const double sequential = llorch::bench::Median(commands[2].millis);
  for (const Command& command : commands) {
    const double median = llorch::bench::Median(command.millis);
    std::printf("  %-26s %8.1f ms   %5.2fx sequential script\n", command.label.c_str(), median,
                median / sequential);
  }
  const double ours = llorch::bench::Median(commands[3].millis) / sequential;
  std::printf("  bar: llorch-pool git status at most 1.00x the sequential script: %.2fx (%s)\n",
              ours, ours <= 1.0 ? "met" : "not met");
  std::printf("  (plain git status and git submodule status are for reference: they show less)\n");
  return 0;
}
