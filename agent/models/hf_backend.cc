#include "agent/models/hf_backend.h"

#include <sys/stat.h>

#include <sstream>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/ops/byte_progress.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

constexpr char kHfDownloadDir[] = ".cache/huggingface/download";
constexpr uint64_t kMaxMetadataBytes = 4096;  // three short lines

constexpr char kInstallHint[] =
    "install the Hugging Face CLI with `pipx install 'huggingface_hub[cli]'` (or "
    "`pip install -U \"huggingface_hub[cli]\"`), or set download.hf_command to its path";

// The CLI's partial download of `file`, <file>.<etag>.incomplete, by its size; 0 when there is
// none yet. An older etag's leftover may lie beside it: the newest one is the live download.
uint64_t IncompleteBytes(const DirFd& download_dir, const std::string& file) {
  uint64_t bytes = 0;
  struct timespec newest {};
  absl::StatusOr<std::vector<std::string>> names = download_dir.List();
  if (!names.ok()) return 0;
  for (const std::string& name : *names) {
    if (!absl::StartsWith(name, file + ".") || !absl::EndsWith(name, ".incomplete")) continue;
    std::optional<struct stat> info = download_dir.Stat(name);
    if (!info || !S_ISREG(info->st_mode)) continue;
    const struct timespec modified = info->st_mtim;
    if (std::tie(modified.tv_sec, modified.tv_nsec) < std::tie(newest.tv_sec, newest.tv_nsec)) {
      continue;
    }
    newest = modified;
    bytes = static_cast<uint64_t>(info->st_size);
  }
  return bytes;
}

// The line that says what went wrong: the CLI's "Error: ..." line, else the end of a traceback.
std::string ErrorLine(const std::vector<std::string>& stderr_tail) {
  for (auto it = stderr_tail.rbegin(); it != stderr_tail.rend(); ++it) {
    absl::string_view line = absl::StripAsciiWhitespace(*it);
    if (absl::StartsWith(line, "Error:")) {
      return std::string(absl::StripAsciiWhitespace(line.substr(6)));
    }
  }
  std::vector<std::string> without_hints;
  for (const std::string& line : stderr_tail) {
    if (!absl::StartsWith(absl::StripAsciiWhitespace(line), "Hint:")) without_hints.push_back(line);
  }
  return LastLines(without_hints, 3);
}

bool ContainsAny(absl::string_view text, std::initializer_list<absl::string_view> needles) {
  const std::string lower = absl::AsciiStrToLower(text);
  for (absl::string_view needle : needles) {
    if (absl::StrContains(lower, absl::AsciiStrToLower(needle))) return true;
  }
  return false;
}

// The CLI's failure (`failure`: "<what> failed (exit 1): <ErrorLine>") as an error that says
// what to do; `what` names the run.
absl::Status ExplainHfFailure(const SubprocessResult& result, absl::Status failure,
                              const CatalogModel& model, absl::string_view what) {
  if (result.signal != 0) return failure;
  const std::string error = ErrorLine(result.stderr_tail);
  const absl::string_view message = failure.message();
  if (result.exit_code == 2) {
    return WithHint(
        absl::FailedPreconditionError(message),
        "this `hf` does not understand the command line: upgrade it with "
        "`pip install -U \"huggingface_hub[cli]\"` (or `pipx upgrade huggingface_hub`)");
  }
  if (ContainsAny(error, {"outgoing traffic has been disabled", "LocalEntryNotFoundError"})) {
    return WithHint(absl::FailedPreconditionError(absl::StrCat(
                        what, ": offline (HF_HUB_OFFLINE is set) and the file is not on disk")),
                    "unset HF_HUB_OFFLINE (or set it to 0) where the agent runs to download it");
  }
  if (ContainsAny(error, {"Repository not found", "Revision not found", "File not found",
                          "Entry not found", "404"})) {
    return WithReason(WithHint(absl::NotFoundError(message),
                               absl::StrCat("check the catalog entry against ", model.HubUrl(),
                                            " (`llorch-pool models info ", model.id, "`)")),
                      reasons::kHubNotFound);
  }
  if (ContainsAny(error, {"Access denied", "gated", "Not logged in", "401", "403", "Unauthorized",
                          "Forbidden"})) {
    return WithHint(absl::PermissionDeniedError(message),
                    absl::StrCat("log in with `hf auth login` or set HF_TOKEN; a gated model "
                                 "needs its access request accepted on ",
                                 model.HubUrl()));
  }
  return WithHint(absl::UnavailableError(message),
                  "the CLI's whole output is in the operation log; run the same `hf download` "
                  "by hand to see more (HF_DEBUG=1 shows its traceback)");
}

// Removes what the CLI installed for `file`, so that nothing unverified stays behind.
void DiscardDownload(const DirFd& local_dir, const DirFd& download_dir, const std::string& file) {
  local_dir.Unlink(file).IgnoreError();
  download_dir.Unlink(file + ".metadata").IgnoreError();
}

}  // namespace

fs::path HfDownloadDir(const fs::path& local_dir) { return local_dir / kHfDownloadDir; }

std::optional<HfDownloadMetadata> ReadHfDownloadMetadata(const DirFd& download_dir,
                                                         const std::string& file) {
  absl::StatusOr<std::string> text = download_dir.ReadFile(file + ".metadata", kMaxMetadataBytes);
  if (!text.ok()) return std::nullopt;
  std::istringstream in(*text);
  HfDownloadMetadata metadata;
  if (!std::getline(in, metadata.commit) || !std::getline(in, metadata.etag)) {
    return std::nullopt;
  }
  metadata.commit = std::string(absl::StripAsciiWhitespace(metadata.commit));
  metadata.etag = std::string(absl::StripAsciiWhitespace(metadata.etag));
  if (metadata.commit.empty() || metadata.etag.empty()) return std::nullopt;
  return metadata;
}

absl::StatusOr<Manifest> DownloadWithHfCli(const ModelStore& store, const CatalogModel& model,
                                           const HfCliOptions& options, Operation& op) {
  HfCliOptions run = options;
  // A std::string value: from "1", GCC 12 at -O3 warns of an impossible overlap (-Wrestrict).
  run.env.insert_or_assign("HF_HUB_DISABLE_PROGRESS_BARS", std::string("1"));
  absl::StatusOr<std::string> hf = FindProgram(options.hf_command, "download.hf_command", run);
  if (!hf.ok()) return WithReason(WithHint(hf.status(), kInstallHint), reasons::kHfCliMissing);

  // The CLI writes by path: into directories checked to be real here (made now if missing, so
  // that none is a symlink); what it leaves is checked again through their fds.
  absl::StatusOr<DirFd> local_dir = store.OpenDir(model, "", true);
  if (!local_dir.ok()) return local_dir.status();
  absl::StatusOr<DirFd> download_dir = local_dir->OpenDir(kHfDownloadDir, true);
  if (!download_dir.ok()) return download_dir.status();
  // The CLI replaces the file: the manifest must not vouch for what it leaves.
  if (absl::Status status = store.WithdrawManifest(model); !status.ok()) return status;

  ChildProcessStep step;
  step.argv = {*hf, "download", model.repo, model.file, "--local-dir", local_dir->path().string()};
  if (!model.revision.empty() && model.revision != "main") {
    step.argv.push_back("--revision");
    step.argv.push_back(model.revision);
  }
  step.name =
      absl::StrCat("hf download ", model.repo, " ", model.file, " (revision ", model.revision, ")");
  step.work = absl::StrCat("download of ", model.id);
  ByteProgress download(op, "download", model.size_bytes, model.file);
  download.Report(0);
  step.on_tick = [&] { download.Report(IncompleteBytes(*download_dir, model.file)); };
  step.error_line = ErrorLine;
  step.explain_failure = [&](const SubprocessResult& result, absl::Status failure) {
    return ExplainHfFailure(result, std::move(failure), model, step.name);
  };
  if (absl::Status status = RunChildProcessStep(step, run, op); !status.ok()) return status;

  const fs::path path = store.ModelPath(model);
  const std::optional<struct stat> installed = local_dir->Stat(model.file);
  if (!installed) {
    return absl::InternalError(
        absl::StrCat("hf download exited 0 but ", path.string(), " is not there"));
  }
  if (!S_ISREG(installed->st_mode)) {  // an old CLI links the file into its cache
    const absl::Status what = local_dir->OpenRegularFile(model.file).status();
    DiscardDownload(*local_dir, *download_dir, model.file);
    return WithHint(absl::FailedPreconditionError(
                        absl::StrCat("hf download left no regular file: ", what.message(),
                                     "; it was removed, nothing was installed")),
                    "upgrade the CLI: `pip install -U \"huggingface_hub[cli]\"`");
  }
  download.Report(static_cast<uint64_t>(installed->st_size));
  const std::optional<HfDownloadMetadata> metadata =
      ReadHfDownloadMetadata(*download_dir, model.file);
  if (!metadata) {
    return WithHint(absl::FailedPreconditionError(absl::StrCat(
                        "hf download left no commit and etag in ",
                        download_dir->PathOf(model.file + ".metadata").string(),
                        ", so the file cannot be checked against the Hub; it stays unverified")),
                    "upgrade the CLI: `pip install -U \"huggingface_hub[cli]\"`");
  }
  // Without a digest from the Hub the file stays, unverified (no manifest), as the CLI left it.
  absl::StatusOr<Manifest> manifest =
      store.Install(model, StagedFile::InPlace(absl::StrCat("hf download of ", model.repo)),
                    InstallSource{metadata->commit, metadata->etag}, op);
  if (absl::IsDataLoss(manifest.status())) {
    DiscardDownload(*local_dir, *download_dir, model.file);
  }
  return manifest;
}

}  // namespace llorch
