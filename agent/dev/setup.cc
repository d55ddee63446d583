#include "agent/dev/setup.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "agent/git/git_repo.h"
#include "agent/models/store/model_store.h"
#include "agent/ops/child_process_step.h"
#include "common/atomic_file.h"
#include "common/config.h"
#include "common/dir_fd.h"
#include "common/status.h"
#include "common/subprocess.h"
#include "common/units.h"

namespace llorch {
namespace v1 = pool::v1;
namespace fs = std::filesystem;
namespace {

constexpr char kHfPackage[] = "huggingface_hub[cli]";

// `word` as a POSIX shell would need it to read it back as one word, for showing commands.
std::string ShellWord(const std::string& word) {
  const bool plain = !word.empty() && std::all_of(word.begin(), word.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
           std::string_view("_./:=@%+,-").find(c) != std::string_view::npos;
  });
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) {
    if (c == '\'') {
      quoted += "'\\''";
    } else {
      quoted += c;
    }
  }
  return quoted + "'";
}

std::string ShowCommand(const std::vector<std::string>& argv) {
  std::vector<std::string> words;
  for (const std::string& word : argv) words.push_back(ShellWord(word));
  return absl::StrJoin(words, " ");
}

// What every step sees.
struct StepRun {
  const SetupOptions& options;
  const SetupRequest& request;
  Operation& op;

  // The setup command again, with `step` skipped too: how to go on without a failing step.
  std::string WithoutStep(const std::string& step) const {
    std::vector<std::string> argv = {"llorch-pool", "dev", "setup"};
    if (!request.model_id.empty()) {
      argv.push_back("--model");
      argv.push_back(request.model_id);
    }
    std::vector<std::string> skip = request.skip;
    skip.push_back(step);
    for (const std::string& name : SetupStepNames()) {
      if (std::find(skip.begin(), skip.end(), name) == skip.end()) continue;
      argv.push_back("--skip");
      argv.push_back(name);
    }
    if (request.force) argv.push_back("--force");
    return ShowCommand(argv);
  }
};

v1::SetupStep Step(v1::SetupAction action, std::string detail) {
  v1::SetupStep step;
  step.set_action(action);
  step.set_detail(std::move(detail));
  return step;
}

// A failed step: what went wrong (with the error's hint) and how to retry it, or go on without.
v1::SetupStep Failed(const StepRun& run, const std::string& name, const absl::Status& status,
                     const std::string& retry) {
  v1::SetupStep step = Step(v1::SETUP_ACTION_FAILED, "");
  std::string error(status.message());
  if (std::optional<std::string> hint = GetHint(status)) absl::StrAppend(&error, " (", *hint, ")");
  step.set_error(error);
  step.set_retry(absl::StrCat(retry, ", or go on without it: ", run.WithoutStep(name)));
  return step;
}

v1::SetupStep Submodules(const StepRun& run) {
  const SetupOptions& options = run.options;
  if (options.doctor.repo.root.empty()) {
    return Failed(run, "submodules",
                  WithHint(absl::FailedPreconditionError(
                               "no repository checkout: repo_root is not set and the agent was "
                               "not started inside a git checkout"),
                           "set repo_root (--repo-root, LLORCH_REPO_ROOT)"),
                  "run `llorch-pool dev setup` in the llama-orch checkout");
  }
  const std::shared_ptr<const GitRepo> repo =
      options.repo ? options.repo : std::make_shared<const GitRepo>(options.doctor.repo);
  absl::StatusOr<std::vector<v1::Submodule>> submodules = repo->Submodules();
  if (!submodules.ok()) {
    return Failed(run, "submodules", submodules.status(),
                  "correct what the error says (`llorch-pool git status` shows the checkout), then "
                  "`llorch-pool dev setup`");
  }
  std::vector<std::string> names;
  size_t recorded = 0;
  for (const v1::Submodule& submodule : *submodules) {
    if (submodule.missing()) continue;
    ++recorded;
    if (!submodule.initialized()) names.push_back(submodule.name());
  }
  if (names.empty()) {
    return Step(v1::SETUP_ACTION_ALREADY_DONE,
                recorded == 0 ? "no submodules declared in .gitmodules"
                              : absl::StrCat(recorded, recorded == 1 ? " submodule" : " submodules",
                                             " initialized"));
  }
  std::vector<std::string> own_command = {"llorch-pool", "git", "submodules", "update"};
  for (const std::string& name : names) {
    own_command.push_back("--name");
    own_command.push_back(name);
  }
  const std::string list = absl::StrJoin(names, ", ");
  if (run.request.dry_run) {
    return Step(v1::SETUP_ACTION_WILL_DO,
                absl::StrCat("initialize ", list, " at their recorded commits"));
  }
  absl::StatusOr<v1::SubmoduleUpdateResult> updated =
      repo->UpdateSubmodules(names, /*remote=*/false, /*force=*/false, run.op);
  if (!updated.ok()) return Failed(run, "submodules", updated.status(), ShowCommand(own_command));
  return Step(v1::SETUP_ACTION_DONE, absl::StrCat("initialized ", list));
}

v1::SetupStep InstallHf(const StepRun& run) {
  const SetupOptions& options = run.options;
  if (options.download.backend != "hf") {
    return Step(v1::SETUP_ACTION_SKIPPED,
                absl::StrCat("download.backend is \"", options.download.backend,
                             "\": the native downloader needs no hf CLI"));
  }
  const std::string& hf = options.download.hf.hf_command;
  if (std::optional<std::string> found = FindExecutable(hf, options.path_env)) {
    return Step(v1::SETUP_ACTION_ALREADY_DONE, absl::StrCat("hf CLI found: ", *found));
  }
  std::vector<std::string> shown;
  std::optional<std::string> program = FindExecutable("pipx", options.path_env);
  if (program) {
    shown = {"pipx", "install", kHfPackage};
  } else if ((program = FindExecutable(options.python, options.path_env))) {
    shown = {options.python, "-m", "pip", "install", "--user", kHfPackage};
  } else {
    return Failed(run, "hf",
                  absl::NotFoundError(absl::StrCat("no `", hf, "` in PATH, and neither pipx nor ",
                                                   options.python, " to install it with")),
                  "install pipx (apt install pipx), then `llorch-pool dev setup` again");
  }
  v1::SetupStep step;
  if (run.request.dry_run) {
    step = Step(v1::SETUP_ACTION_WILL_DO,
                absl::StrCat("install the hf CLI (download.backend is \"hf\" and no `", hf,
                             "` is in PATH)"));
  } else {
    std::vector<std::string> argv = shown;
    argv.front() = *program;
    ChildProcessStep child;
    child.argv = argv;
    child.name = shown.front();
    child.work = "installing the hf CLI";
    if (absl::Status installed = RunChildProcessStep(child, ChildProcessOptions(), run.op);
        !installed.ok()) {
      step = Failed(run, "hf", installed, ShowCommand(shown));
    } else if (!FindExecutable(hf, options.path_env)) {
      step = Step(v1::SETUP_ACTION_DONE,
                  absl::StrCat("installed the hf CLI, but `", hf,
                               "` is still not in the agent's PATH: add ~/.local/bin to PATH or "
                               "set download.hf_command to its path"));
    } else {
      step = Step(v1::SETUP_ACTION_DONE, "installed the hf CLI");
    }
  }
  step.set_command(ShowCommand(shown));
  return step;
}

v1::SetupStep DownloadModel(const StepRun& run) {
  const SetupOptions& options = run.options;
  const Catalog& catalog = *options.doctor.catalog;
  const std::string id = run.request.model_id.empty()
                             ? RecommendedModel(catalog, options.default_model)
                             : run.request.model_id;
  if (id.empty()) {
    return Failed(run, "model", absl::NotFoundError("the catalog has no model"),
                  "add one to the catalog (catalog = FILE), then `llorch-pool dev setup`");
  }
  absl::StatusOr<const CatalogModel*> model = catalog.Lookup(id);
  if (!model.ok()) {
    return Failed(run, "model", model.status(),
                  "fix workers.default_model (`llorch-pool dev check-config`), or pass --model");
  }
  const std::string own_command = ShowCommand({"llorch-pool", "models", "download", id});
  const ModelStore store(options.doctor.models_dir);
  const LocalModel local = store.Inspect(**model);
  if (local.state == LocalState::kDownloaded) {
    return Step(v1::SETUP_ACTION_ALREADY_DONE,
                absl::StrCat(id, " already downloaded and verified: ", local.path.string()));
  }
  if (run.request.dry_run) {
    return Step(
        v1::SETUP_ACTION_WILL_DO,
        local.state == LocalState::kUnverified
            ? absl::StrCat("check ", local.path.string(), " against the Hub and adopt it as ", id)
            : absl::StrCat("download ", id, " (", FormatBytes((*model)->size_bytes), ") from ",
                           (*model)->repo, ", verified, to ", local.path.string()));
  }
  absl::StatusOr<v1::DownloadedModel> downloaded =
      DownloadCatalogModel(store, **model, /*force=*/false, options.download, run.op);
  if (!downloaded.ok()) return Failed(run, "model", downloaded.status(), own_command);
  if (downloaded->already_present()) {
    return Step(v1::SETUP_ACTION_ALREADY_DONE,
                absl::StrCat(id, " already downloaded and verified: ", downloaded->local_path()));
  }
  if (options.installed) options.installed(**model, downloaded->manifest(), run.op.id());
  return Step(v1::SETUP_ACTION_DONE,
              absl::StrCat(downloaded->adopted() ? "adopted " : "downloaded ", id,
                           ", verified: ", downloaded->local_path()));
}

// The bytes of the regular file `name` in `dir`; nullopt when it cannot be read as one.
std::optional<std::string> ReadRegularFile(const DirFd& dir, const std::string& name) {
  absl::StatusOr<UniqueFd> fd = dir.OpenRegularFile(name);
  if (!fd.ok()) return std::nullopt;
  std::string content;
  char buffer[8192];
  for (;;) {
    const ssize_t got = read(fd->get(), buffer, sizeof buffer);
    if (got < 0) return std::nullopt;
    if (got == 0) return content;
    content.append(buffer, static_cast<size_t>(got));
  }
}

v1::SetupStep WriteConfig(const StepRun& run) {
  const std::string& path = run.options.config_file;
  const std::string retry = "correct what the error says, then `llorch-pool dev setup`";
  if (path.empty()) {
    return Failed(run, "config",
                  absl::FailedPreconditionError(
                      "no place for a user configuration file: neither XDG_CONFIG_HOME nor HOME "
                      "is set for the agent"),
                  retry);
  }
  const fs::path file(path);
  const std::string name = file.filename().string();
  std::error_code ec;
  const bool exists = fs::exists(fs::symlink_status(file, ec));
  const std::string text = DefaultConfigText();
  if (exists && !run.request.force) {
    return Step(
        v1::SETUP_ACTION_ALREADY_DONE,
        absl::StrCat(path, " exists: kept as it is (--force replaces it, keeping a backup)"));
  }
  absl::StatusOr<DirFd> dir = DirFd::OpenRoot(file.parent_path(), /*create=*/false);
  if (exists) {
    if (!dir.ok()) return Failed(run, "config", dir.status(), retry);
    if (ReadRegularFile(*dir, name) == text) {
      return Step(v1::SETUP_ACTION_ALREADY_DONE,
                  absl::StrCat(path, " already holds the default configuration"));
    }
  }
  const std::string backup = absl::StrCat(
      name, ".bak-", absl::FormatTime("%Y%m%dT%H%M%SZ", absl::Now(), absl::UTCTimeZone()));
  if (run.request.dry_run) {
    return Step(v1::SETUP_ACTION_WILL_DO,
                exists ? absl::StrCat("replace ", path, " with the default configuration, keeping ",
                                      "the old one as ", (file.parent_path() / backup).string())
                       : absl::StrCat("write the default configuration to ", path));
  }
  if (!exists) {
    dir = DirFd::OpenRoot(file.parent_path(), /*create=*/true);
    if (!dir.ok()) return Failed(run, "config", dir.status(), retry);
  } else {
    absl::StatusOr<UniqueFd> old = dir->OpenRegularFile(name);
    if (!old.ok()) return Failed(run, "config", old.status(), retry);
    std::string backup_name = backup;
    for (int n = 2; fs::exists(fs::symlink_status(file.parent_path() / backup_name, ec)); ++n) {
      backup_name = absl::StrCat(backup, "-", n);
    }
    if (absl::StatusOr<uint64_t> copied = CopyFileAtomically(old->get(), *dir, backup_name);
        !copied.ok()) {
      return Failed(run, "config", copied.status(), retry);
    }
    if (absl::Status written = WriteFileAtomically(*dir, name, text); !written.ok()) {
      return Failed(run, "config", written, retry);
    }
    return Step(v1::SETUP_ACTION_DONE,
                absl::StrCat("replaced ", path, " with the default configuration; the old one is ",
                             (file.parent_path() / backup_name).string()));
  }
  if (absl::Status written = WriteFileAtomically(*dir, name, text); !written.ok()) {
    return Failed(run, "config", written, retry);
  }
  return Step(v1::SETUP_ACTION_DONE,
              absl::StrCat("wrote the default configuration to ", path,
                           " (every setting at its default, commented out)"));
}

v1::SetupStep Doctor(const StepRun& run, v1::DevSetupResult* result) {
  if (run.request.dry_run) {
    return Step(v1::SETUP_ACTION_WILL_DO, "run the doctor's checks (they change nothing)");
  }
  v1::RunDoctorResponse doctor = llorch::RunDoctor(run.options.doctor, {});
  const v1::DoctorSummary& summary = doctor.summary();
  v1::SetupStep step =
      Step(doctor.ok() ? v1::SETUP_ACTION_ALREADY_DONE : v1::SETUP_ACTION_FAILED,
           absl::StrCat(summary.ok(), " ok, ", summary.warn(),
                        summary.warn() == 1 ? " warning, " : " warnings, ", summary.fail(),
                        " failed, ", summary.skipped(), " skipped"));
  for (const v1::Check& check : doctor.checks()) {
    if (check.status() != v1::CHECK_STATUS_WARN && check.status() != v1::CHECK_STATUS_FAIL)
      continue;
    step.add_lines(absl::StrCat(
        check.status() == v1::CHECK_STATUS_FAIL ? "[✗] " : "[!] ", check.name(), ": ",
        check.detail(), check.fix().empty() ? "" : absl::StrCat(" (fix: ", check.fix(), ")")));
  }
  if (!doctor.ok()) {
    step.set_error("a required check failed");
    step.set_retry(
        absl::StrCat("fix what `llorch-pool dev doctor` shows, then run it again, or "
                     "go on without it: ",
                     run.WithoutStep("doctor")));
  }
  *result->mutable_doctor() = std::move(doctor);
  return step;
}

}  // namespace

const std::vector<std::string>& SetupStepNames() {
  static const auto* names =
      new std::vector<std::string>{"submodules", "hf", "model", "config", "doctor"};
  return *names;
}

std::string RecommendedModel(const Catalog& catalog, absl::string_view default_model) {
  if (!default_model.empty()) return std::string(default_model);
  if (catalog.Find("tinyllama") != nullptr) return "tinyllama";
  return catalog.models().empty() ? "" : catalog.models().front().id;
}

std::string DefaultConfigText() {
  const Config defaults;
  std::string text =
      "# llorch-pool configuration, written by `llorch-pool dev setup`.\n"
      "# Every setting is shown at its built-in default, commented out: uncomment a line (and\n"
      "# its [table]) to change it. Reference: docs/configuration.md; check this file with\n"
      "# `llorch-pool dev check-config`.\n";
  std::string table = "";
  bool first = true;
  for (const std::string& key : ConfigKeys()) {
    const size_t dot = key.rfind('.');
    const std::string key_table = dot == std::string::npos ? "" : key.substr(0, dot);
    if (first || key_table != table) {
      absl::StrAppend(&text, "\n");
      if (!key_table.empty()) absl::StrAppend(&text, "# [", key_table, "]\n");
      table = key_table;
      first = false;
    }
    absl::StrAppend(&text, "# ", dot == std::string::npos ? key : key.substr(dot + 1), " = ",
                    ConfigValueAsToml(defaults, key), "\n");
  }
  return text;
}

void RunSetup(const SetupOptions& options, const SetupRequest& request, Operation& op) {
  const StepRun run{options, request, op};
  const std::vector<std::string>& names = SetupStepNames();
  v1::DevSetupResult result;
  result.set_dry_run(request.dry_run);
  result.set_ok(true);
  v1::Progress progress;
  progress.set_phase("setup");
  progress.set_unit(v1::PROGRESS_UNIT_STEPS);
  progress.set_total(names.size());
  for (const std::string& name : names) {
    progress.set_current_item(name);
    op.ReportProgress(progress);
    v1::SetupStep step;
    if (std::find(request.skip.begin(), request.skip.end(), name) != request.skip.end()) {
      step = Step(v1::SETUP_ACTION_SKIPPED, absl::StrCat("skipped on request (--skip ", name, ")"));
    } else if (name == "submodules") {
      step = Submodules(run);
    } else if (name == "hf") {
      step = InstallHf(run);
    } else if (name == "model") {
      step = DownloadModel(run);
    } else if (name == "config") {
      step = WriteConfig(run);
    } else {
      step = Doctor(run, &result);
    }
    if (op.cancel_requested()) {
      op.Fail(absl::CancelledError(absl::StrCat("setup cancelled during its ", name, " step")));
      return;
    }
    step.set_name(name);
    if (step.action() == v1::SETUP_ACTION_FAILED) result.set_ok(false);
    op.Log(v1::LogLine::STREAM_AGENT,
           absl::StrCat(name, ": ",
                        step.error().empty()    ? step.detail()
                        : step.detail().empty() ? step.error()
                                                : absl::StrCat(step.detail(), ": ", step.error())));
    *result.add_steps() = std::move(step);
    progress.set_done(progress.done() + 1);
  }
  progress.clear_current_item();
  op.ReportProgress(progress);
  op.Succeed(result);
}

}  // namespace llorch
