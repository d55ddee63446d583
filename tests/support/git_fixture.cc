#include "tests/support/git_fixture.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <set>

namespace llorch::testing {

namespace {

// Fixes the identity of every commit (so only dates vary between runs), lets submodules clone
// over file://, which git refuses by default since 2.38.1, and keeps git from starting
// `git maintenance run --auto` after commits and fetches (processes the tests only wait for).
constexpr char kGitConfig[] =
    "[user]\n"
    "\tname = Llorch Test\n"
    "\temail = test@llorch.invalid\n"
    "[init]\n"
    "\tdefaultBranch = main\n"
    "[protocol \"file\"]\n"
    "\tallow = always\n"
    "[maintenance]\n"
    "\tauto = false\n";

// True for a variable of the caller's that would point git at another repository or
// configuration (git clears the same repository ones before it runs in a submodule), or override
// the identity the fixture's gitconfig sets.
bool IsLeakingGitVariable(const std::string& name) {
  static const std::set<std::string> kRepositoryVariables = {
      "GIT_DIR",        "GIT_WORK_TREE",        "GIT_INDEX_FILE",
      "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
      "GIT_PREFIX"};
  return kRepositoryVariables.contains(name) || name.starts_with("GIT_CONFIG") ||
         name.starts_with("GIT_AUTHOR_") || name.starts_with("GIT_COMMITTER_");
}

std::string Join(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

}  // namespace

GitFixture::GitFixture() {
  WriteFileBytes(root() + "/home/.gitconfig", kGitConfig);

  const std::string alpha = root() + "/build/alpha";
  Git(root(), {"init", "-q", alpha});
  Commit(alpha, "README.md", "# alpha\n", "alpha: initial commit");
  Commit(alpha, "src/alpha.cc", "int Alpha() { return 1; }\n", "alpha: add Alpha()");
  Git(alpha, {"checkout", "-q", "-b", "llorch/metal-bugfixes"});
  Commit(alpha, "src/metal.cc", "int Metal() { return 2; }\n", "alpha: fix the Metal kernels");
  // The bare clone's HEAD follows this checkout's, and must name main.
  Git(alpha, {"checkout", "-q", "main"});
  Git(root(), {"clone", "-q", "--bare", alpha, root() + "/remotes/alpha.git"});

  const std::string beta = root() + "/build/beta";
  Git(root(), {"init", "-q", beta});
  Commit(beta, "README.md", "# beta\n", "beta: initial commit");
  Commit(beta, "src/beta.cc", "int Beta() { return 1; }\n", "beta: add Beta()");
  Git(root(), {"clone", "-q", "--bare", beta, root() + "/remotes/beta.git"});

  const std::string origin = root() + "/build/origin";
  Git(root(), {"init", "-q", origin});
  WriteFile(origin, ".gitignore", "/.test-models/\n/target/\n");
  WriteFile(origin, "src/main.rs", "fn main() {}\n");
  Git(origin, {"add", ".gitignore", "src/main.rs"});
  Commit(origin, "README.md", "# llama-orch\n", "Initial layout");
  Git(origin, {"submodule", "--quiet", "add", Url("alpha"), "reference/alpha"});
  Git(origin, {"submodule", "--quiet", "add", Url("beta"), "reference/beta"});
  Git(origin, {"config", "-f", ".gitmodules", "submodule.reference/beta.branch", "main"});
  // Declared but never added: a checkout's "missing" submodule.
  Git(origin, {"config", "-f", ".gitmodules", "submodule.reference/ghost.path", "reference/ghost"});
  Git(origin, {"config", "-f", ".gitmodules", "submodule.reference/ghost.url",
               "file:///nonexistent/ghost.git"});
  Git(origin, {"add", ".gitmodules"});
  Git(origin, {"commit", "-q", "-m", "Add the reference submodules"});
  Commit(origin, "README.md", "# llama-orch\n\nReference code lives in reference/.\n",
         "README: point at the reference checkouts");
  Git(root(), {"clone", "-q", "--bare", origin, root() + "/remotes/origin.git"});
}

std::map<std::string, std::string> GitFixture::Env() const {
  std::map<std::string, std::string> env = CurrentEnvironment();
  std::erase_if(env, [](const auto& entry) { return IsLeakingGitVariable(entry.first); });
  env["GIT_CONFIG_GLOBAL"] = root() + "/home/.gitconfig";
  env["GIT_CONFIG_NOSYSTEM"] = "1";
  env["HOME"] = root() + "/home";
  // A git that wants credentials fails instead of waiting for a terminal.
  env["GIT_TERMINAL_PROMPT"] = "0";
  // git's messages in English, for tests that look for them.
  env["LC_ALL"] = "C";
  return env;
}

void GitFixture::ExportEnv() const {
  const std::map<std::string, std::string> env = Env();
  for (const auto& [name, value] : CurrentEnvironment()) {
    if (!env.contains(name)) unsetenv(name.c_str());
  }
  for (const auto& [name, value] : env) setenv(name.c_str(), value.c_str(), 1);
}

std::string GitFixture::Url(const std::string& repo) const {
  return "file://" + root() + "/remotes/" + repo + ".git";
}

std::string GitFixture::Clone(const std::string& name, bool init_submodules) {
  const std::string dir = root() + "/" + name;
  Git(root(), {"clone", "-q", Url("origin"), dir});
  if (init_submodules) Git(dir, {"submodule", "--quiet", "update", "--init", "--recursive"});
  return dir;
}

std::string GitFixture::Git(const std::string& dir, const std::vector<std::string>& args) const {
  CommandResult result = TryGit(dir, args);
  if (result.exit_code != 0) {
    ADD_FAILURE() << "git -C " << dir << " " << Join(args) << " exited with " << result.exit_code
                  << ":\n"
                  << result.err;
  }
  if (result.out.ends_with('\n')) result.out.pop_back();
  return result.out;
}

CommandResult GitFixture::TryGit(const std::string& dir,
                                 const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {"git", "-C", dir};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandOptions options;
  options.env = Env();
  return RunCommand(argv, options);
}

void GitFixture::WriteFile(const std::string& dir, const std::string& path,
                           const std::string& content) const {
  WriteFileBytes(dir + "/" + path, content);
}

std::string GitFixture::Commit(const std::string& dir, const std::string& path,
                               const std::string& content, const std::string& message) const {
  WriteFile(dir, path, content);
  Git(dir, {"add", "-f", "--", path});
  Git(dir, {"commit", "-q", "-m", message});
  return Git(dir, {"rev-parse", "HEAD"});
}

std::string GitFixture::PushToOrigin(const std::string& path, const std::string& content,
                                     const std::string& message) {
  const std::string dir = ScratchClone("origin", "main");
  const std::string commit = Commit(dir, path, content, message);
  Git(dir, {"push", "-q", "origin", "HEAD:main"});
  return commit;
}

std::string GitFixture::PushToSubmodule(const std::string& submodule, const std::string& branch,
                                        bool record) {
  const std::string dir = ScratchClone(submodule, branch);
  // Named after the scratch clone so that every push changes a file of its own.
  const std::string update = "update-" + std::to_string(scratch_);
  const std::string commit =
      Commit(dir, update + ".txt", update + "\n", submodule + ": " + update + " on " + branch);
  Git(dir, {"push", "-q", "origin", "HEAD:" + branch});
  if (record) {
    // Setting the gitlink in the index needs no checkout of the submodule.
    const std::string super = ScratchClone("origin", "main");
    Git(super, {"update-index", "--cacheinfo", "160000," + commit + ",reference/" + submodule});
    Git(super, {"commit", "-q", "-m", "Move reference/" + submodule + " to " + commit});
    Git(super, {"push", "-q", "origin", "HEAD:main"});
  }
  return commit;
}

std::string GitFixture::RecordedSubmoduleCommit(const std::string& submodule) const {
  return Git(root() + "/remotes/origin.git", {"rev-parse", "main:reference/" + submodule});
}

void GitFixture::BreakOrigin() {
  std::filesystem::rename(root() + "/remotes/origin.git", root() + "/remotes/origin.git.broken");
}

void GitFixture::RestoreOrigin() {
  std::filesystem::rename(root() + "/remotes/origin.git.broken", root() + "/remotes/origin.git");
}

std::string GitFixture::ScratchClone(const std::string& repo, const std::string& branch) {
  const std::string dir = root() + "/build/scratch-" + std::to_string(++scratch_);
  Git(root(), {"clone", "-q", "--branch", branch, Url(repo), dir});
  return dir;
}

}  // namespace llorch::testing
