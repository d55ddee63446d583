// Converting a model whose Hub repository has no GGUF file (catalog requires_conversion: gpt2,
// granite) from the source files already fetched into <models_dir>/<dir>/source/.
//
// Runs the catalog's converter with absolute paths only (the bash script cd'ed into llama.cpp
// with relative paths and broke), the way llama.cpp's convert_hf_to_gguf.py takes them:
//   <python> <repo_root>/<converter_script> <source dir> --outfile <temp output> <converter_args>
// e.g. python3 /srv/llama-orch/reference/llama.cpp/convert_hf_to_gguf.py
//        /srv/models/gpt2/source --outfile /srv/models/gpt2/.llorch/gpt2-fp32.gguf.partial-convert
//        --outtype f32
// The output goes to a temporary file next to the model's metadata, so a failed or cancelled
// conversion never leaves a half-written <dir>/<file>; ModelStore::Install installs it once it is
// a valid GGUF file, with its SHA-256 in the manifest.
#ifndef LLORCH_AGENT_MODELS_CONVERTER_H_
#define LLORCH_AGENT_MODELS_CONVERTER_H_

#include <filesystem>
#include <string>

#include "absl/status/statusor.h"
#include "agent/models/store/model_store.h"
#include "agent/ops/child_process_step.h"
#include "agent/ops/operation.h"

namespace llorch {

// The converter's environment, polling and kill grace (ChildProcessOptions), and:
struct ConverterOptions : ChildProcessOptions {
  // config convert.python: a name looked up in PATH, or a path.
  std::string python = "python3";
  // Absolute (AgentContext::repo_root); the catalog's converter_script is relative to it. Empty
  // (no checkout known) is a FailedPrecondition that says how to set it.
  std::filesystem::path repo_root;
  // The source repository's commit the files in source/ came from: the manifest's revision.
  std::string source_commit;
};

// Converts `model` (which must have a conversion) and installs the result with its manifest
// (revision = options.source_commit, no upstream etag: the file exists only here); returns the
// manifest. Reports into `op` (the converter's stdout/stderr lines, phase "convert" progress
// as bytes written against the catalog's size estimate, then "hash") but leaves finishing it to
// the caller. Errors: FailedPrecondition when the source files (config.json in source/, or the
// bash scripts' pytorch/) or the converter script are missing, NotFound when python is, each
// naming the path and how to get it; Aborted when the converter fails (its last error line in
// the message, its whole output in the log); DataLoss when it claims success but wrote no
// valid GGUF file (refused, nothing installed); CANCELLED when `op` was cancelled.
absl::StatusOr<Manifest> ConvertModel(const ModelStore& store, const CatalogModel& model,
                                      const ConverterOptions& options, Operation& op);

// The converter's script and interpreter, as ConvertModel would run them; checked before the
// sources are fetched, so a host without the converter learns it before gigabytes arrive.
struct ConverterProgram {
  std::filesystem::path script;  // absolute
  std::string python;            // absolute
};
// The errors ConvertModel gives for a missing repository root, script or python.
absl::StatusOr<ConverterProgram> FindConverter(const CatalogModel& model,
                                               const ConverterOptions& options);

// Where the converter writes before the result is checked: <dir>/.llorch/<file>.partial-convert.
std::filesystem::path ConversionTempPath(const ModelStore& store, const CatalogModel& model);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_CONVERTER_H_
