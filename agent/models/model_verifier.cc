#include "agent/models/model_verifier.h"

#include <sys/stat.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/models/store/gguf_reader.h"

namespace llorch {

absl::StatusOr<pool::v1::ModelVerification> VerifyModel(const ModelStore& store,
                                                        const CatalogModel& model,
                                                        const HashProgress& progress,
                                                        const UpstreamLookup& lookup,
                                                        const std::optional<UpstreamFile>& pinned) {
  pool::v1::ModelVerification result;
  result.set_id(model.id);
  pool::v1::FileVerification* file = result.add_files();
  file->set_pinned(pinned.has_value());
  const std::filesystem::path path = store.ModelPath(model);
  file->set_path((std::filesystem::path(model.dir) / model.file).generic_string());

  if (absl::Status dirs = store.CheckDirsAreReal(model); !dirs.ok()) {
    file->set_problem(std::string(dirs.message()));
    return result;
  }
  // Opened once, never through a symlink: the size, hash and header are of one file.
  absl::StatusOr<UniqueFd> fd = store.OpenModelFile(model);
  file->set_present(fd.ok());
  if (!file->present()) {
    std::string problem = absl::IsNotFound(fd.status()) ? "the model file is missing"
                                                        : std::string(fd.status().message());
    if (std::optional<std::filesystem::path> former = store.FormerFile(model)) {
      absl::StrAppend(&problem, "; ", former->filename().string(),
                      ", the name older hosts gave it, is there: `llorch-pool models download ",
                      model.id, "` renames it and adopts it when its bytes are the Hub's");
    }
    file->set_problem(problem);
    return result;
  }
  struct stat info {};
  const uint64_t size = fstat(fd->get(), &info) == 0 ? static_cast<uint64_t>(info.st_size) : 0;
  file->set_size_bytes(size);
  file->set_size_nonzero(size > 0);
  std::optional<Manifest> manifest = store.ReadManifest(model);
  // Without a manifest the Hub's record is the reference; asked before hashing, which is long.
  std::optional<absl::StatusOr<UpstreamFile>> upstream;
  if (!manifest && pinned) {
    upstream = *pinned;
  } else if (!manifest && lookup) {
    upstream = lookup(model);
  }
  const bool from_hub = upstream && upstream->ok();
  if (from_hub) {
    Manifest record;
    record.repo = model.repo;
    record.revision_commit = (*upstream)->revision_commit;
    record.file = model.file;
    record.size = (*upstream)->size;
    record.sha256 = (*upstream)->sha256;
    record.upstream_etag = (*upstream)->etag;
    record.verified_by = kVerifiedBySha256;
    manifest = record;
  }
  const char* const reference = !from_hub ? "the manifest says"
                                : pinned  ? "the lock pins"
                                          : "the Hub says";
  file->set_size_matches(manifest && manifest->size == size);
  if (manifest) {
    file->set_expected_sha256(pinned ? pinned->sha256 : manifest->sha256);
    file->set_expected_size_bytes(pinned ? pinned->size : manifest->size);
  }

  absl::StatusOr<std::string> actual = Sha256OfOpenFile(fd->get(), path.string(), progress);
  if (actual.status().code() == absl::StatusCode::kCancelled) return actual.status();
  if (actual.ok()) file->set_actual_sha256(*actual);

  absl::StatusOr<GgufSummary> gguf = ReadGgufSummaryOfOpenFile(fd->get(), path.string());
  file->set_gguf_valid(gguf.ok());

  // The first failed check, in the order a user would fix them.
  std::string problem;
  if (!file->size_nonzero()) {
    problem = "the model file is empty";
  } else if (!manifest) {
    problem = absl::StrCat(
        "no manifest records its hash (downloaded outside llorch-pool?)",
        upstream ? absl::StrCat(" and the Hub could not be asked: ", upstream->status().message())
                 : "",
        "; `llorch-pool models verify ", model.id,
        "` adopts it when the Hub is reachable, or `llorch-pool models download ", model.id,
        " --force` fetches it again");
  } else if (!file->size_matches()) {
    problem = absl::StrCat("size is ", size, " bytes, ", reference, " ", manifest->size);
  } else if (!actual.ok()) {
    problem = std::string(actual.status().message());
  } else if (*actual != manifest->sha256) {
    problem = absl::StrCat("SHA-256 is ", *actual, ", ", reference, " ", manifest->sha256);
    if (!from_hub) {
      // A manifest that vouches for other bytes than these would keep the model "downloaded".
      absl::Status withdrawn = store.RemoveManifest(model);
      file->set_manifest_withdrawn(withdrawn.ok());
      absl::StrAppend(
          &problem,
          withdrawn.ok()
              ? absl::StrCat("; the manifest is withdrawn: the model counts as "
                             "unverified until `llorch-pool models download ",
                             model.id, "` replaces the file")
              : absl::StrCat("; the manifest could not be withdrawn: ", withdrawn.message()));
    }
  } else if (pinned && (manifest->sha256 != pinned->sha256 || manifest->size != pinned->size)) {
    problem =
        absl::StrCat("the file is ", manifest->sha256, " (", manifest->size, " bytes, commit ",
                     manifest->revision_commit, "), the lock pins ", pinned->sha256, " (",
                     pinned->size, " bytes, commit ", pinned->revision_commit,
                     "): not the pinned version; `llorch-pool "
                     "models download ",
                     model.id,
                     "` installs the pinned one, or "
                     "`llorch-pool models lock --update ",
                     model.id, "` pins what the Hub has now");
  } else if (!gguf.ok()) {
    problem = absl::StrCat("invalid GGUF header: ", gguf.status().message());
  } else if (from_hub) {
    manifest->downloaded_at = absl::ToUnixSeconds(absl::Now());
    if (absl::Status written = store.WriteManifest(model, *manifest); !written.ok()) {
      problem = absl::StrCat("the bytes match the Hub's but the manifest could not be written: ",
                             written.message());
    } else {
      file->set_adopted(true);
    }
  }
  file->set_problem(problem);
  file->set_ok(problem.empty());
  result.set_ok(file->ok());
  return result;
}

}  // namespace llorch
