#include "agent/models/converter.h"

#include <sys/stat.h>

#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/models/store/model_install.h"
#include "common/atomic_file.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "common/subprocess.h"

namespace llorch {
namespace fs = std::filesystem;
namespace v1 = pool::v1;
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

// The line of the converter's stderr that says what went wrong (a traceback ends with it).
std::string LastErrorLine(const std::vector<std::string>& stderr_tail) {
  for (auto it = stderr_tail.rbegin(); it != stderr_tail.rend(); ++it) {
    absl::string_view line = absl::StripAsciiWhitespace(*it);
    if (!line.empty()) return std::string(line);
  }
  return "no error output";
}

absl::Status ConverterFailure(const SubprocessResult& result, const std::string& script) {
  const std::string error = LastErrorLine(result.stderr_tail);
  const std::string message =
      absl::StrCat("converter ", script, " failed (", result.Describe(), "): ", error);
  if (absl::StrContains(error, "ModuleNotFoundError") ||
      absl::StrContains(error, "No module named")) {
    return WithHint(
        absl::AbortedError(message),
        absl::StrCat("install the converter's Python requirements: `pip install -r ",
                     (fs::path(script).parent_path() / "requirements.txt").string(), "`"));
  }
  return WithHint(absl::AbortedError(message),
                  "the converter's whole output is in the operation log (`llorch-pool ops watch "
                  "<id>`)");
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
  SubprocessOptions run;
  run.env = options.env;
  std::optional<std::string> python = FindExecutable(options.python, EffectivePath(run));
  if (!python) {
    const std::string what =
        options.python.find('/') != std::string::npos
            ? absl::StrCat(options.python, " (convert.python) is not an executable file")
            : absl::StrCat("`", options.python, "` was not found in PATH (", EffectivePath(run),
                           ")");
    return WithReason(
        WithHint(absl::NotFoundError(absl::StrCat("cannot run the converter: ", what)),
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
  SubprocessOptions run;
  run.env = options.env;
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
  run.argv = {program->python, script.string(), source->string(), "--outfile", temp.string()};
  run.argv.insert(run.argv.end(), model.conversion->args.begin(), model.conversion->args.end());
  run.working_dir = source->string();
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrJoin(run.argv, " "));
  ChildOutputLog log(op);
  ByteProgress convert(op, "convert", model.size_bytes, model.file);
  convert.Report(0);
  run.on_line = [&log](const OutputLine& line) { log(line); };
  run.on_tick = [&] {
    std::optional<struct stat> written = metadata_dir->Stat(temp_name);
    if (written && S_ISREG(written->st_mode)) {
      convert.Report(static_cast<uint64_t>(written->st_size));
    }
  };
  run.should_stop = [&op] { return op.cancel_requested(); };
  run.poll_interval = options.poll_interval;
  run.kill_grace = options.kill_grace;
  absl::StatusOr<SubprocessResult> result = RunSubprocess(run);
  if (!result.ok()) return result.status();
  // From here on, whatever fails leaves no temp file behind.
  struct RemoveTemp {
    const DirFd& dir;
    const std::string& name;
    ~RemoveTemp() { dir.RemoveTree(name).IgnoreError(); }
  } remove_temp{*metadata_dir, temp_name};
  if (result->stopped) {
    return absl::CancelledError(absl::StrCat("conversion of ", model.id, " cancelled"));
  }
  if (!result->succeeded()) return ConverterFailure(*result, script.string());

  const std::optional<struct stat> written = metadata_dir->Stat(temp_name);
  if (!written) {
    return absl::DataLossError(
        absl::StrCat("converter ", script.string(), " exited 0 but wrote no ", temp.string()));
  }
  const uint64_t size = static_cast<uint64_t>(written->st_size);
  convert.Report(size);
  if (absl::Status gguf =
          CheckGguf(*metadata_dir, temp_name, absl::StrCat("converter ", script.string()));
      !gguf.ok()) {
    return gguf;
  }
  absl::StatusOr<FileHashes> hashes =
      HashWithProgress(*metadata_dir, temp_name, size, model.file, op);
  if (!hashes.ok()) return hashes.status();
  const std::string& sha256 = hashes->sha256;

  // Manifest out, file in, manifest in: a crash anywhere leaves no manifest for other bytes.
  if (absl::Status status = store.RemoveManifest(model); !status.ok()) return status;
  const fs::path path = store.ModelPath(model);
  absl::StatusOr<DirFd> model_dir = store.OpenDir(model, "", false);
  if (!model_dir.ok()) return model_dir.status();
  if (absl::Status status = RenameDurably(*metadata_dir, temp_name, *model_dir, model.file);
      !status.ok()) {
    return status;
  }
  Manifest manifest;
  manifest.repo = model.repo;
  manifest.revision_commit = options.source_commit;
  manifest.file = model.file;
  manifest.size = size;
  manifest.sha256 = sha256;
  manifest.downloaded_at = NowUnixSeconds();
  if (absl::Status status = store.WriteManifest(model, manifest); !status.ok()) return status;
  op.Log(v1::LogLine::STREAM_AGENT,
         absl::StrCat("installed ", path.string(), " (", size, " bytes, SHA-256 ", sha256, ")"));
  return manifest;
}

}  // namespace llorch
