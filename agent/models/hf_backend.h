// The `hf` download backend (config download.backend = "hf"): what the spec asks for literally,
// `hf download <repo> <file> --local-dir <models_dir>/<dir>`, with what the CLI itself leaves out
// (it checks only the size): the bytes checked against the Hub's digest (its SHA-256, or for a
// file outside LFS its git blob id; an etag that is neither leaves the file unverified, without
// a manifest, and fails with HUB_NO_DIGEST), the GGUF header, the manifest.
//
// Facts about the real CLI this relies on (huggingface_hub's file_download.py, _local_folder.py
// and cli/, checked against its source): with --local-dir it downloads to
//   <dir>/.cache/huggingface/download/<file>.<etag>.incomplete
// (under a lock file <file>.lock there), removes an outdated <dir>/<file> first, renames the
// finished download to <dir>/<file> and only then writes
//   <dir>/.cache/huggingface/download/<file>.metadata = "<commit>\n<etag>\n<unix time>\n"
// where the etag of an LFS file (every GGUF) is its SHA-256. A file already there whose metadata
// (or, without metadata, whose SHA-256) matches the Hub is not fetched again: files the bash
// scripts downloaded are adopted for the cost of one hash. Exit status: 0 done; 1 an error, told
// on stderr as "Error: <message>" (repository, revision or file not found, access denied, HTTP
// errors) or as a Python traceback; 2 a command line it does not understand (click usage error).
#ifndef LLORCH_AGENT_MODELS_HF_BACKEND_H_
#define LLORCH_AGENT_MODELS_HF_BACKEND_H_

#include <filesystem>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "agent/models/store/model_store.h"
#include "agent/ops/child_process_step.h"
#include "agent/ops/operation.h"
#include "common/dir_fd.h"

namespace llorch {

// The CLI's environment, polling and kill grace (ChildProcessOptions: the agent's environment,
// which passes HF_TOKEN, HF_ENDPOINT, HF_HUB_OFFLINE and proxies through, with `env` on top, and
// always HF_HUB_DISABLE_PROGRESS_BARS=1: progress comes from the growing file, and the bars
// would only flood the operation log), and:
struct HfCliOptions : ChildProcessOptions {
  // config download.hf_command: a name looked up in PATH, or a path.
  std::string hf_command = "hf";
};

// Downloads `model` with the `hf` CLI into the store and verifies it; returns the manifest it
// wrote. Reports into `op` (log lines, phase "download" then "hash" progress) but leaves
// finishing it to the caller. The CLI gets the model directory only once it and the CLI's
// download directory proved real (made if missing; a symlink there is refused, reason
// SYMLINK_REFUSED, before the CLI runs), and what it leaves at <dir>/<file> must be a regular
// file (an old CLI's link into its cache is removed and refused, FailedPrecondition). The
// manifest is withdrawn before the CLI runs (ModelStore::WithdrawManifest: a file it leaves
// alone stays verified); ModelStore::Install then verifies the file in place: its digest
// against the Hub's etag as the CLI recorded it, its GGUF header. Refused bytes (DataLoss, the
// error naming both digests) are removed with the CLI's metadata for them. Errors:
// NotFound with an install hint when there is no `hf`; the CLI's exit mapped to NotFound (repo,
// revision or file missing on the Hub), PermissionDenied (gated, private, bad token),
// FailedPrecondition (exit 2: too old an `hf`; HF_HUB_OFFLINE set and the file not on disk),
// Unavailable (anything else), each with the
// CLI's own error line; CANCELLED when `op` was cancelled (the CLI's whole process group is
// stopped: SIGTERM, then SIGKILL after kill_grace).
absl::StatusOr<Manifest> DownloadWithHfCli(const ModelStore& store, const CatalogModel& model,
                                           const HfCliOptions& options, Operation& op);

// The CLI's record of a finished download (<file>.metadata).
struct HfDownloadMetadata {
  std::string commit;
  std::string etag;
};

// <local_dir>/.cache/huggingface/download
std::filesystem::path HfDownloadDir(const std::filesystem::path& local_dir);

// Reads <file>.metadata in `download_dir` (the HfDownloadDir); nullopt when absent, malformed or
// not a small regular file.
std::optional<HfDownloadMetadata> ReadHfDownloadMetadata(const DirFd& download_dir,
                                                         const std::string& file);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_HF_BACKEND_H_
