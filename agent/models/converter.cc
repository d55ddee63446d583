#include "agent/models/converter.h"

#include <sys/stat.h>

#include <system_error>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "agent/ops/byte_progress.h"
#include "common/error_reasons.h"
#include "common/status.h"

namespace llorch {
namespace fs = std::filesystem;
namespace {

bool IsRegularFile(const fs::path& path) {
  std::error_code ec;
  return fs::is_regular_file(fs::status(path, ec));
}

// "llorch-pool git submodules update --name reference/llama.cpp": the submodule holding the
// script is taken to be the script's directory (catalog scripts live at a submodule's top).
std::string SubmoduleHint(const ModelConversion& conversion) {
  const std::string submodule = fs::path(conversion.script).parent_path().generic_string();
  return absl::StrCat("fetch the converter with `llorch-pool git submodules update --name ",
                      submodule.empty() ? "reference/llama.cpp" : submodule, "`");
}

// The source directory: source/, or pytorch/ where the bash scripts put it; nullopt when neither
// holds a config.json. A symlink in the way is an error.
absl::StatusOr<std::optional<fs::path>> SourceDir(const ModelStore& store,
                                                  const CatalogModel& model) {
  for (const char* name : {"source", "pytorch"}) {
    absl::StatusOr<DirFd> dir = store.OpenDir(model, name, false);
    if (absl::IsNotFound(dir.status())) continue;
    if (!dir.ok()) return dir.status();
    std::optional<struct stat> config = dir->Stat("config.json");
    if (config && S_ISREG(config->st_mode)) return std::optional<fs::path>(dir->path());
  }
  return std::nullopt;
}

// A missing Python module is the converter's requirements, not installed.
absl::Status ExplainConverterFailure(const SubprocessResult& result, absl::Status failure,
                                     const fs::path& script) {
  const std::string error = LastLines(result.stderr_tail, 1);
  if (!absl::StrContains(error, "ModuleNotFoundError") &&
      !absl::StrContains(error, "No module named")) {
    return failure;
  }
  return WithHint(std::move(failure),
                  absl::StrCat("install the converter's Python requirements: `pip install -r ",
                               (script.parent_path() / "requirements.txt").string(), "`"));
}

std::string TempName(const CatalogModel& model) { return model.file + ".partial-convert"; }

}  // namespace

fs::path ConversionTempPath(const ModelStore& store, const CatalogModel& model) {
  return store.ManifestPath(model).parent_path() / TempName(model);
}

absl::StatusOr<ConverterProgram> FindConverter(const CatalogModel& model,
                                               const ConverterOptions& options) {
  if (!model.conversion) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", model.id, "' has a GGUF file on the Hub; it is not converted"));
  }
  const ModelConversion& conversion = *model.conversion;
  if (!options.repo_root.is_absolute()) {
    return WithHint(
        absl::FailedPreconditionError(absl::StrCat(
            "cannot find the converter ", conversion.script,
            ": no repository root is known (not configured, and the agent does not run inside "
            "the llama-orch checkout)")),
        "set repo_root in pool.toml (or LLORCH_REPO_ROOT, or --repo-root) to the llama-orch "
        "checkout");
  }
  const fs::path script = (options.repo_root / conversion.script).lexically_normal();
  if (!IsRegularFile(script)) {
    return WithReason(WithHint(absl::FailedPreconditionError(absl::StrCat(
                                   "the converter script ", script.string(), " does not exist")),
                               SubmoduleHint(conversion)),
                      reasons::kConverterMissing);
  }
  absl::StatusOr<std::string> python = FindProgram(options.python, "convert.python", options);
  if (!python.ok()) {
    return WithReason(
        WithHint(WithPrefix(python.status(), "cannot run the converter"),
                 absl::StrCat("install Python 3 (e.g. `apt-get install python3`) and the "
                              "converter's requirements (`pip install -r ",
                              (script.parent_path() / "requirements.txt").string(),
                              "`), or set convert.python; ", SubmoduleHint(conversion),
                              " if it is missing too")),
        reasons::kPythonMissing);
  }
  return ConverterProgram{script, *python};
}

absl::StatusOr<Manifest> ConvertModel(const ModelStore& store, const CatalogModel& model,
                                      const ConverterOptions& options, Operation& op) {
  absl::StatusOr<ConverterProgram> program = FindConverter(model, options);
  if (!program.ok()) return program.status();
  const fs::path& script = program->script;
  absl::StatusOr<std::optional<fs::path>> found = SourceDir(store, model);
  if (!found.ok()) return found.status();
  const std::optional<fs::path>& source = *found;
  if (!source) {
    return WithHint(absl::FailedPreconditionError(absl::StrCat(
                        "no conversion source for ", model.id, ": ",
                        (store.models_dir() / model.dir / "source" / "config.json").string(),
                        " does not exist")),
                    absl::StrCat("download the source files first (`llorch-pool models download ",
                                 model.id, "`)"));
  }

  // The converter writes by path: into the metadata directory, checked to be real here, under
  // a name nothing else is at; what it leaves is checked again through the directory's fd.
  absl::StatusOr<DirFd> metadata_dir = store.OpenDir(model, ModelStore::kMetadataDir, true);
  if (!metadata_dir.ok()) return metadata_dir.status();
  const std::string temp_name = TempName(model);
  const fs::path temp = metadata_dir->PathOf(temp_name);
  // A leftover of an interrupted conversion.
  if (absl::Status status = metadata_dir->RemoveTree(temp_name); !status.ok()) return status;
  // Whatever happens from here on, no temp file stays behind.
  struct RemoveTemp {
    const DirFd& dir;
    const std::string& name;
    ~RemoveTemp() { dir.RemoveTree(name).IgnoreError(); }
  } remove_temp{*metadata_dir, temp_name};

  ChildProcessStep step;
  step.argv = {program->python, script.string(), source->string(), "--outfile", temp.string()};
  step.argv.insert(step.argv.end(), model.conversion->args.begin(), model.conversion->args.end());
  step.working_dir = source->string();
  step.name = absl::StrCat("converter ", script.string());
  step.work = absl::StrCat("conversion of ", model.id);
  ByteProgress convert(op, "convert", model.size_bytes, model.file);
  convert.Report(0);
  step.on_tick = [&] {
    std::optional<struct stat> written = metadata_dir->Stat(temp_name);
    if (written && S_ISREG(written->st_mode)) {
      convert.Report(static_cast<uint64_t>(written->st_size));
    }
  };
  // A traceback ends with the line that says what went wrong.
  step.error_line = [](const std::vector<std::string>& tail) { return LastLines(tail, 1); };
  step.explain_failure = [&script](const SubprocessResult& result, absl::Status failure) {
    return ExplainConverterFailure(result, std::move(failure), script);
  };
  if (absl::Status status = RunChildProcessStep(step, options, op); !status.ok()) return status;

  const std::optional<struct stat> written = metadata_dir->Stat(temp_name);
  if (!written) {
    return absl::DataLossError(
        absl::StrCat("converter ", script.string(), " exited 0 but wrote no ", temp.string()));
  }
  convert.Report(static_cast<uint64_t>(written->st_size));
  return store.Install(model, StagedFile{&*metadata_dir, temp_name, step.name, std::nullopt},
                       InstallSource{options.source_commit, "", /*converted=*/true}, op);
}

}  // namespace llorch
