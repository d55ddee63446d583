// Reads the header of a GGUF model file (llama.cpp's format, versions 2 and 3, little-endian):
// the metadata key/value pairs and the tensor infos, never the tensor data, so a 14 GB model
// costs only its header's reads (a few MiB at most, mostly the vocabulary; in 64 KiB chunks).
//
// Every length and count in the header is checked against the bytes that follow it before
// anything is allocated or read, and the reader keeps only the few scalar fields below: large
// arrays (tokenizer vocabularies) are skipped, not loaded, so memory stays small whatever the
// file claims. Arrays of arrays are accepted up to 4 levels deep.
//
// Errors name the source (the path), the byte offset and what was wrong, e.g.
//   /m/x.gguf: not a GGUF file (magic 'GGML', expected 'GGUF')
//   /m/x.gguf: truncated at byte 1234 while reading metadata key 17 ('tokenizer.ggml.tokens')
//   /m/x.gguf: the string in metadata key 3 ('general.name') at byte 88 claims
//              9223372036854775807 bytes, more than the file holds (only 1146 bytes follow: the
//              file is truncated or corrupt)
//   /m/x.gguf: tensor 0 ('blk.0.attn_q.weight') at byte 1300 has 7 dimensions (at most 4)
// Codes: NotFound (no such file), DataLoss (the bytes end before what the header describes:
// truncation, or a length/count larger than the rest of the file), InvalidArgument (anything
// else malformed: magic, version, types, dimensions, negative or overflowing values),
// PermissionDenied/FailedPrecondition (cannot open it; not a regular file).
#ifndef LLORCH_AGENT_MODELS_STORE_GGUF_READER_H_
#define LLORCH_AGENT_MODELS_STORE_GGUF_READER_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace llorch {

// What `models info` shows, read from the header only.
struct GgufSummary {
  uint32_t version = 0;
  std::string architecture;       // general.architecture ("" if absent)
  std::string name;               // general.name ("" if absent)
  uint64_t context_length = 0;    // <arch>.context_length (0 if absent)
  uint64_t embedding_length = 0;  // <arch>.embedding_length (0 if absent)
  uint64_t block_count = 0;       // <arch>.block_count (0 if absent)
  std::string file_type;          // general.file_type by name, see GgufFileTypeName(); "" if absent
  uint64_t tensor_count = 0;
  uint64_t parameter_count = 0;  // sum over tensors of the product of their dims
  uint64_t header_bytes = 0;     // the header's size: magic to the end of the tensor infos
};

// Reads the header of the GGUF file at `path` (symlinks followed), never the tensor data.
// The numeric fields accept any integer metadata type (UINT8..INT64); negative values and
// non-integer types are errors, as are non-string general.architecture/general.name.
absl::StatusOr<GgufSummary> ReadGgufSummary(const std::string& path);
// The same from the open file `fd` (left open); `name` starts every error message.
absl::StatusOr<GgufSummary> ReadGgufSummaryOfOpenFile(int fd, absl::string_view name);

// The same from bytes in memory: the whole file or a prefix of it (for tests, and for checking
// a download's start: DataLoss then means "not enough bytes yet", InvalidArgument "not GGUF").
// `source_name` starts every error message.
absl::StatusOr<GgufSummary> ParseGgufSummary(absl::string_view bytes,
                                             absl::string_view source_name = "GGUF data");

// llama.cpp's name for a general.file_type (enum llama_ftype without LLAMA_FTYPE_[MOSTLY_]):
// 0 "ALL_F32", 1 "F16", 15 "Q4_K_M", 32 "BF16", ...; "unknown (N)" for values it does not define.
std::string GgufFileTypeName(uint64_t file_type);

}  // namespace llorch

#endif  // LLORCH_AGENT_MODELS_STORE_GGUF_READER_H_
