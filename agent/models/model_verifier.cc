#include "agent/models/model_verifier.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "agent/models/gguf_reader.h"

namespace llorch {

absl::StatusOr<pool::v1::ModelVerification> VerifyModel(const ModelStore& store,
                                                        const CatalogModel& model,
                                                        const HashProgress& progress) {
  pool::v1::ModelVerification result;
  result.set_id(model.id);
  pool::v1::FileVerification* file = result.add_files();
  const std::filesystem::path path = store.ModelPath(model);
  file->set_path((std::filesystem::path(model.dir) / model.file).generic_string());

  std::error_code ec;
  const auto status = std::filesystem::symlink_status(path, ec);
  file->set_present(std::filesystem::is_regular_file(status));
  if (!file->present()) {
    file->set_problem(std::filesystem::is_symlink(status)
                          ? "the model file is a symlink; verify follows no links"
                          : "the model file is missing");
    return result;
  }
  const uint64_t size = std::filesystem::file_size(path, ec);
  file->set_size_bytes(size);
  file->set_size_nonzero(size > 0);
  const std::optional<Manifest> manifest = store.ReadManifest(model);
  file->set_size_matches(manifest && manifest->size == size);
  if (manifest) {
    file->set_expected_sha256(manifest->sha256);
    file->set_expected_size_bytes(manifest->size);
  }

  absl::StatusOr<std::string> actual = Sha256File(path.string(), progress);
  if (actual.status().code() == absl::StatusCode::kCancelled) return actual.status();
  if (actual.ok()) file->set_actual_sha256(*actual);

  absl::StatusOr<GgufSummary> gguf = ReadGgufSummary(path.string());
  file->set_gguf_valid(gguf.ok());

  // The first failed check, in the order a user would fix them.
  std::string problem;
  if (!file->size_nonzero()) {
    problem = "the model file is empty";
  } else if (!manifest) {
    problem =
        "no manifest records its hash (downloaded outside llorch-pool?); download it again "
        "with `llorch-pool models download " +
        model.id + " --force` to record one";
  } else if (!file->size_matches()) {
    problem = absl::StrCat("size is ", size, " bytes, the manifest says ", manifest->size);
  } else if (!actual.ok()) {
    problem = std::string(actual.status().message());
  } else if (*actual != manifest->sha256) {
    problem = absl::StrCat("SHA-256 is ", *actual, ", the manifest says ", manifest->sha256);
  } else if (!gguf.ok()) {
    problem = absl::StrCat("invalid GGUF header: ", gguf.status().message());
  }
  file->set_problem(problem);
  file->set_ok(problem.empty());
  result.set_ok(file->ok());
  return result;
}

}  // namespace llorch
