// ModelStore::Install, the store's one way to put a model file in place, and the check of bytes
// against the Hub's digest it makes.
#include <sys/stat.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/models/hub/hub_client.h"
#include "agent/models/store/gguf_reader.h"
#include "agent/models/store/model_store.h"
#include "agent/ops/byte_progress.h"
#include "common/atomic_file.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/units.h"

namespace llorch {
namespace v1 = pool::v1;

absl::StatusOr<std::string> CheckAgainstHub(absl::string_view file, const FileHashes& computed,
                                            absl::string_view hub_etag) {
  const FileHashes hub = HubDigestOfEtag(hub_etag);
  const bool by_sha256 = !hub.sha256.empty();
  const std::string& expected = by_sha256 ? hub.sha256 : hub.git_sha1;
  const std::string& actual = by_sha256 ? computed.sha256 : computed.git_sha1;
  if (expected.empty()) {
    return WithReason(
        WithHint(absl::FailedPreconditionError(absl::StrCat(
                     "the Hub's etag for ", file, " (", absl::CHexEscape(hub_etag),
                     ") is neither a SHA-256 nor a git blob id: nothing vouches for its bytes")),
                 "download it from the Hub itself, or through a mirror that passes its ETag "
                 "and X-Linked-Etag headers through"),
        reasons::kHubNoDigest);
  }
  if (actual == expected) return std::string(by_sha256 ? kVerifiedBySha256 : kVerifiedByGitSha1);
  return WithReason(
      WithHint(absl::DataLossError(absl::StrCat(
                   by_sha256 ? "SHA-256" : "git blob id", " mismatch for ", file,
                   ": the downloaded bytes hash to ", actual.empty() ? "(not computed)" : actual,
                   ", the Hub says ", expected, "; nothing was installed")),
               "download it again; if it repeats, a proxy or the Hub's CDN serves corrupt bytes"),
      reasons::kHashMismatch);
}

absl::StatusOr<Manifest> ModelStore::Install(const CatalogModel& model, const StagedFile& staged,
                                             const InstallSource& source, Operation& op) const {
  const FileHashes hub = HubDigestOfEtag(source.upstream_etag);
  if (!source.converted && hub.sha256.empty() && hub.git_sha1.empty()) {
    return CheckAgainstHub(model.file, {}, source.upstream_etag).status();  // HUB_NO_DIGEST
  }
  const bool git_blob = !source.converted && !hub.git_sha1.empty();
  absl::StatusOr<DirFd> model_dir = OpenDir(model, "", true);
  if (!model_dir.ok()) return model_dir.status();
  absl::StatusOr<DirFd> metadata_dir = OpenDir(model, kMetadataDir, true);
  if (!metadata_dir.ok()) return metadata_dir.status();
  // A link (or a directory, a FIFO) where the model file goes is the operator's to resolve.
  if (std::optional<struct stat> there = model_dir->Stat(model.file);
      there && !S_ISREG(there->st_mode)) {
    return WithHint(model_dir->OpenRegularFile(model.file).status(),
                    absl::StrCat("remove it (`llorch-pool models delete ", model.id,
                                 "` removes a link, never its target), then download again"));
  }
  const DirFd& from = staged.dir != nullptr ? *staged.dir : *model_dir;
  const std::string& name = staged.dir != nullptr ? staged.name : model.file;
  const std::string path = from.PathOf(name).string();
  // One open file for every check, never through a symlink.
  absl::StatusOr<UniqueFd> fd = from.OpenRegularFile(name);
  if (!fd.ok()) return fd.status();
  struct stat info {};
  if (fstat(fd->get(), &info) != 0) return absl::InternalError(absl::StrCat("cannot stat ", path));
  const FileIdentity identity = IdentityOf(info);

  FileHashes hashes;
  if (staged.hashes) {
    hashes = *staged.hashes;
  } else {
    op.Log(v1::LogLine::STREAM_AGENT,
           absl::StrCat("computing the SHA-256", git_blob ? " and git blob id" : "", " of ", path));
    ByteProgress hashing(op, "hash", identity.size, model.file);
    absl::StatusOr<FileHashes> computed = HashOpenFile(
        fd->get(), path, git_blob, [&](uint64_t done) { return hashing.ReportAndContinue(done); });
    if (!computed.ok()) return computed.status();
    if (identity.size == 0) hashing.Report(0);
    hashes = *std::move(computed);
  }
  std::string verified_by;
  if (!source.converted) {
    absl::StatusOr<std::string> checked = CheckAgainstHub(model.file, hashes, source.upstream_etag);
    if (!checked.ok()) return checked.status();
    verified_by = *std::move(checked);
  }
  if (absl::StatusOr<GgufSummary> gguf = ReadGgufSummaryOfOpenFile(fd->get(), path); !gguf.ok()) {
    return absl::DataLossError(
        absl::StrCat(staged.made_by,
                     " produced a file that is not a valid GGUF model: ", gguf.status().message()));
  }

  const Manifest manifest{model.repo,
                          source.revision_commit,
                          model.file,
                          identity.size,
                          hashes.sha256,
                          source.converted ? "" : source.upstream_etag,
                          absl::ToUnixSeconds(absl::Now()),
                          verified_by};
  if (staged.dir != nullptr) {
    if (absl::Status status =
            Withdraw(model, *model_dir, *metadata_dir, std::pair(manifest, identity));
        !status.ok()) {
      return status;
    }
    if (absl::Status status = RenameDurably(from, name, *model_dir, model.file); !status.ok()) {
      return status;
    }
    Step("rename");
  }
  if (absl::Status status = WriteManifest(model, manifest); !status.ok()) return status;
  Step("manifest");
  metadata_dir->Unlink(SwitchName(model)).IgnoreError();  // the manifest holds now
  Step("cleanup");
  op.Log(
      v1::LogLine::STREAM_AGENT,
      absl::StrCat(staged.dir != nullptr ? "installed " : "verified ",
                   model_dir->PathOf(model.file).string(), " (", FormatBytes(identity.size), ", ",
                   verified_by == kVerifiedBySha256    ? "SHA-256 matches the Hub's"
                   : verified_by == kVerifiedByGitSha1 ? "git blob id matches the Hub's"
                                                       : absl::StrCat("SHA-256 ", hashes.sha256),
                   ")"));
  return manifest;
}

}  // namespace llorch
