#include "agent/models/converter.h"

#include <system_error>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/models/model_install.h"
#include "common/atomic_file.h"
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

// The source directory: source/, or pytorch/ where the bash scripts put it.
std::optional<fs::path> SourceDir(const ModelStore& store, const CatalogModel& model) {
  for (const char* name : {"source", "pytorch"}) {
    const fs::path dir = store.models_dir() / model.dir / name;
    if (IsRegularFile(dir / "config.json")) return dir;
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

}  // namespace

fs::path ConversionTempPath(const ModelStore& store, const CatalogModel& model) {
  return store.ManifestPath(model).parent_path() / (model.file + ".partial-convert");
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
                      "CONVERTER_MISSING");
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
        "PYTHON_MISSING");
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
  const std::optional<fs::path> source = SourceDir(store, model);
  if (!source) {
    return WithHint(absl::FailedPreconditionError(absl::StrCat(
                        "no conversion source for ", model.id, ": ",
                        (store.models_dir() / model.dir / "source" / "config.json").string(),
                        " does not exist")),
                    absl::StrCat("download the source files first (`llorch-pool models download ",
                                 model.id, "`)"));
  }

  const fs::path temp = ConversionTempPath(store, model);
  std::error_code ec;
  fs::create_directories(temp.parent_path(), ec);
  fs::remove(temp, ec);  // a leftover of an interrupted conversion
  run.argv = {program->python, script.string(), source->string(), "--outfile", temp.string()};
  run.argv.insert(run.argv.end(), model.conversion->args.begin(), model.conversion->args.end());
  run.working_dir = source->string();
  op.Log(v1::LogLine::STREAM_AGENT, absl::StrJoin(run.argv, " "));
  ChildOutputLog log(op);
  ByteProgress convert(op, "convert", model.size_bytes, model.file);
  convert.Report(0);
  run.on_line = [&log](const OutputLine& line) { log(line); };
  run.on_tick = [&] {
    std::error_code size_ec;
    const uint64_t written = fs::file_size(temp, size_ec);
    if (!size_ec) convert.Report(written);
  };
  run.should_stop = [&op] { return op.cancel_requested(); };
  run.poll_interval = options.poll_interval;
  run.kill_grace = options.kill_grace;
  absl::StatusOr<SubprocessResult> result = RunSubprocess(run);
  if (!result.ok()) return result.status();
  // From here on, whatever fails leaves no temp file behind.
  struct RemoveTemp {
    const fs::path& path;
    ~RemoveTemp() {
      std::error_code ignored;
      fs::remove(path, ignored);
    }
  } remove_temp{temp};
  if (result->stopped) {
    return absl::CancelledError(absl::StrCat("conversion of ", model.id, " cancelled"));
  }
  if (!result->succeeded()) return ConverterFailure(*result, script.string());

  const uint64_t size = fs::file_size(temp, ec);
  if (ec) {
    return absl::DataLossError(
        absl::StrCat("converter ", script.string(), " exited 0 but wrote no ", temp.string()));
  }
  convert.Report(size);
  if (absl::Status gguf = CheckGguf(temp.string(), absl::StrCat("converter ", script.string()));
      !gguf.ok()) {
    return gguf;
  }
  absl::StatusOr<std::string> sha256 = HashWithProgress(temp.string(), size, model.file, op);
  if (!sha256.ok()) return sha256.status();

  // Manifest out, file in, manifest in: a crash anywhere leaves no manifest for other bytes.
  if (absl::Status status = store.RemoveManifest(model); !status.ok()) return status;
  const fs::path path = store.ModelPath(model);
  if (absl::Status status = RenameDurably(temp.string(), path.string()); !status.ok()) {
    return status;
  }
  Manifest manifest;
  manifest.repo = model.repo;
  manifest.revision_commit = options.source_commit;
  manifest.file = model.file;
  manifest.size = size;
  manifest.sha256 = *sha256;
  manifest.downloaded_at = NowUnixSeconds();
  if (absl::Status status = store.WriteManifest(model, manifest); !status.ok()) return status;
  op.Log(v1::LogLine::STREAM_AGENT,
         absl::StrCat("installed ", path.string(), " (", size, " bytes, SHA-256 ", *sha256, ")"));
  return manifest;
}

}  // namespace llorch
