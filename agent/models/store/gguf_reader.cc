#include "agent/models/store/gguf_reader.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <iterator>
#include <limits>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace llorch {
namespace {

constexpr size_t kChunkBytes = 64 << 10;
constexpr uint64_t kMaxKeyBytes = 65535;         // the GGUF spec's limit for keys
constexpr uint64_t kMaxKeptStringBytes = 65535;  // general.architecture, general.name
constexpr size_t kMaxNameInMessages = 200;
constexpr uint32_t kMaxDims = 4;        // GGML_MAX_DIMS
constexpr int kMaxArrayDepth = 4;       // levels of arrays in one value
constexpr size_t kMaxPendingKeys = 64;  // "<arch>.*" keys seen before general.architecture
constexpr uint64_t kMaxInt64 = std::numeric_limits<int64_t>::max();

// Smallest encodings, to bound counts by the bytes that follow them.
constexpr uint64_t kMinKvBytes = 8 + 4 + 1;              // empty key, type, 1-byte value
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 4 + 8;  // empty name, 0 dims, type, offset

enum ValueType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
  kValueTypeCount = 13,
};

const char* TypeName(uint32_t type) {
  static constexpr const char* kNames[] = {"UINT8",  "INT8",    "UINT16", "INT16",  "UINT32",
                                           "INT32",  "FLOAT32", "BOOL",   "STRING", "ARRAY",
                                           "UINT64", "INT64",   "FLOAT64"};
  return type < kValueTypeCount ? kNames[type] : "unknown";
}

// Bytes of one value of a fixed-size type; 0 for STRING and ARRAY.
uint64_t FixedSize(uint32_t type) {
  switch (type) {
    case kUint8:
    case kInt8:
    case kBool:
      return 1;
    case kUint16:
    case kInt16:
      return 2;
    case kUint32:
    case kInt32:
    case kFloat32:
      return 4;
    case kUint64:
    case kInt64:
    case kFloat64:
      return 8;
    default:
      return 0;
  }
}

bool IsInteger(uint32_t type) { return type <= kInt32 || type == kUint64 || type == kInt64; }

// Smallest encoding of one array element of `type`.
uint64_t MinElementSize(uint32_t type) {
  if (type == kString) return 8;     // length
  if (type == kArray) return 4 + 8;  // element type, count
  return FixedSize(type);
}

uint64_t LittleEndian(const unsigned char* bytes, size_t n) {
  uint64_t value = 0;
  for (size_t i = 0; i < n; ++i) value |= static_cast<uint64_t>(bytes[i]) << (8 * i);
  return value;
}

// A name as it appears in messages: escaped, and cut to a readable length.
std::string Quoted(absl::string_view name) {
  std::string shown = absl::CHexEscape(name.substr(0, kMaxNameInMessages));
  if (name.size() > kMaxNameInMessages) absl::StrAppend(&shown, "...");
  return absl::StrCat("'", shown, "'");
}

// Random access to the bytes being parsed.
class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Fills out[0, n) with the bytes at `offset`; offset + n <= size().
  virtual absl::Status ReadAt(uint64_t offset, char* out, size_t n) = 0;
};

class MemorySource : public ByteSource {
 public:
  explicit MemorySource(absl::string_view bytes) : bytes_(bytes) {}
  uint64_t size() const override { return bytes_.size(); }
  absl::Status ReadAt(uint64_t offset, char* out, size_t n) override {
    memcpy(out, bytes_.data() + offset, n);
    return absl::OkStatus();
  }

 private:
  absl::string_view bytes_;
};

class FileSource : public ByteSource {
 public:
  // Reads `fd`, which the caller keeps open while the source lives and closes.
  FileSource(absl::string_view path, int fd, uint64_t size) : path_(path), fd_(fd), size_(size) {}
  FileSource(const FileSource&) = delete;
  FileSource& operator=(const FileSource&) = delete;

  uint64_t size() const override { return size_; }
  absl::Status ReadAt(uint64_t offset, char* out, size_t n) override {
    while (n > 0) {
      const ssize_t got = pread(fd_, out, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        return absl::DataLossError(
            absl::StrCat(path_, ": cannot read at byte ", offset, ": ", strerror(errno)));
      }
      if (got == 0) {
        return absl::DataLossError(absl::StrCat(path_, ": truncated at byte ", offset,
                                                " (the file shrank while it was being read)"));
      }
      out += got;
      offset += static_cast<uint64_t>(got);
      n -= static_cast<size_t>(got);
    }
    return absl::OkStatus();
  }

 private:
  std::string path_;
  int fd_;
  uint64_t size_;
};

class Parser {
 public:
  Parser(ByteSource& source, absl::string_view source_name)
      : source_(source), source_name_(source_name), size_(source.size()) {}

  absl::StatusOr<GgufSummary> Parse() {
    if (!ParseHeader() || !ParseMetadata() || !ParseTensorInfos()) return status_;
    summary_.header_bytes = pos_;
    return summary_;
  }

 private:
  // The fields kept from the metadata.
  enum Field { kArchitecture, kName, kFileType, kContextLength, kEmbeddingLength, kBlockCount };
  static constexpr int kFieldCount = 6;

  struct Pending {  // an "<arch>.<suffix>" key seen before general.architecture
    Field field;
    std::string prefix;
    uint64_t index;
    absl::StatusOr<uint64_t> value;
  };

  enum class Section { kHeader, kMetadata, kTensors };

  // --- Errors. The first failure is kept in status_; methods return false after it. ---

  bool Fail(absl::Status status) {
    if (status_.ok()) status_ = std::move(status);
    return false;
  }

  // What is being read, for messages: "the tensor count", "metadata key 17 ('x')", "tensor 3".
  std::string Context() const {
    switch (section_) {
      case Section::kHeader:
        return field_;
      case Section::kMetadata:
        return item_name_known_
                   ? absl::StrCat("metadata key ", index_, " (", Quoted(item_name_), ")")
                   : absl::StrCat("metadata key ", index_);
      case Section::kTensors:
        return item_name_known_ ? absl::StrCat("tensor ", index_, " (", Quoted(item_name_), ")")
                                : absl::StrCat("tensor ", index_);
    }
    return "";
  }

  bool Truncated() {
    return Fail(absl::DataLossError(
        absl::StrCat(source_name_, ": truncated at byte ", size_, " while reading ", Context())));
  }

  // "<thing> at byte <at> claims <count> <unit>, more than the file holds (...)".
  bool Claims(absl::string_view thing, uint64_t at, uint64_t count, absl::string_view unit) {
    return Fail(absl::DataLossError(
        absl::StrCat(source_name_, ": ", thing, " at byte ", at, " claims ", count, " ", unit,
                     ", more than the file holds (only ", remaining(),
                     remaining() == 1 ? " byte follows" : " bytes follow",
                     ": the file is truncated or corrupt)")));
  }

  // "<context> at byte <at> <problem>".
  bool Invalid(uint64_t at, absl::string_view problem) {
    return Fail(absl::InvalidArgumentError(
        absl::StrCat(source_name_, ": ", Context(), " at byte ", at, " ", problem)));
  }

  // --- Buffered reading: 64 KiB chunks; skipped bytes are never read. ---

  uint64_t remaining() const { return size_ - pos_; }

  bool Read(void* out, size_t n) {
    if (n > remaining()) return Truncated();
    char* dest = static_cast<char*>(out);
    while (n > 0) {
      if (pos_ < buffer_start_ || pos_ >= buffer_start_ + buffer_.size()) {
        const size_t length = static_cast<size_t>(std::min<uint64_t>(kChunkBytes, remaining()));
        buffer_.resize(length);
        buffer_start_ = pos_;
        if (absl::Status s = source_.ReadAt(pos_, buffer_.data(), length); !s.ok()) {
          buffer_.clear();
          return Fail(std::move(s));
        }
      }
      const size_t offset = static_cast<size_t>(pos_ - buffer_start_);
      const size_t take = std::min(n, buffer_.size() - offset);
      memcpy(dest, buffer_.data() + offset, take);
      dest += take;
      pos_ += take;
      n -= take;
    }
    return true;
  }

  bool Skip(uint64_t n) {
    if (n > remaining()) return Truncated();
    pos_ += n;
    return true;
  }

  bool ReadUint(size_t n, uint64_t* out) {
    unsigned char bytes[8];
    if (!Read(bytes, n)) return false;
    *out = LittleEndian(bytes, n);
    return true;
  }

  bool ReadU32(uint32_t* out) {
    uint64_t value = 0;
    if (!ReadUint(4, &value)) return false;
    *out = static_cast<uint32_t>(value);
    return true;
  }

  bool ReadU64(uint64_t* out) { return ReadUint(8, out); }

  // --- Header: magic, version, counts. ---

  bool ParseHeader() {
    section_ = Section::kHeader;
    if (size_ == 0) {
      return Fail(absl::DataLossError(absl::StrCat(
          source_name_, ": the file is empty, not a GGUF model (a GGUF file starts with 'GGUF')")));
    }
    field_ = "the magic";
    char magic[4] = {};
    const size_t have = static_cast<size_t>(std::min<uint64_t>(4, size_));
    if (!Read(magic, have)) return false;
    if (absl::string_view(magic, have) != absl::string_view("GGUF", have)) {
      return Fail(
          absl::InvalidArgumentError(absl::StrCat(source_name_, ": not a GGUF file (magic '",
                                                  absl::CHexEscape(absl::string_view(magic, have)),
                                                  "', expected 'GGUF'", GuessWhatItIs(), ")")));
    }
    if (have < 4) return Truncated();

    field_ = "the version";
    uint32_t version = 0;
    if (!ReadU32(&version)) return false;
    if (version != 2 && version != 3) {
      std::string why;
      if (version == 1) {
        why = "; version 1 is obsolete: convert the model again with a current llama.cpp";
      } else if (const uint32_t swapped = __builtin_bswap32(version);
                 swapped >= 1 && swapped <= 3) {
        why = absl::StrCat("; the file looks like a big-endian GGUF version ", swapped,
                           ", which this reader does not read");
      }
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(source_name_, ": unsupported GGUF version ", version,
                       " (this reader supports 2 and 3", why, ")")));
    }
    summary_.version = version;

    field_ = "the tensor count";
    const uint64_t tensors_at = pos_;
    if (!ReadU64(&summary_.tensor_count)) return false;
    field_ = "the metadata count";
    const uint64_t kvs_at = pos_;
    if (!ReadU64(&kv_count_)) return false;
    if (summary_.tensor_count > remaining() / kMinTensorInfoBytes) {
      return Claims("the tensor count", tensors_at, summary_.tensor_count, "tensors");
    }
    if (kv_count_ > remaining() / kMinKvBytes) {
      return Claims("the metadata count", kvs_at, kv_count_, "key/value pairs");
    }
    return true;
  }

  // A hint for a file that is not GGUF at all: the usual suspects when a download went wrong.
  std::string GuessWhatItIs() {
    char start[32] = {};
    const size_t n = static_cast<size_t>(std::min<uint64_t>(sizeof(start), size_));
    if (!source_.ReadAt(0, start, n).ok()) return "";
    const absl::string_view text(start, n);
    if (absl::StartsWith(text, "version https://git-lfs")) {
      return "; it is a Git LFS pointer file, not the model: fetch the real file with git lfs "
             "or download it again";
    }
    if (absl::StartsWith(text, "<")) {
      return "; it looks like an HTML or XML page, e.g. an error page saved in place of the model";
    }
    if (absl::StartsWith(text, "{")) {
      return "; it looks like JSON, e.g. an error response saved in place of the model";
    }
    return "";
  }

  // --- Metadata. ---

  bool ParseMetadata() {
    section_ = Section::kMetadata;
    for (uint64_t i = 0; i < kv_count_; ++i) {
      index_ = i;
      item_name_known_ = false;
      item_name_.clear();
      const uint64_t key_at = pos_;
      uint64_t length = 0;
      if (!ReadU64(&length)) return false;
      if (length > remaining()) {
        return Claims(absl::StrCat("the name of metadata key ", i), key_at, length, "bytes");
      }
      if (length > kMaxKeyBytes) {
        return Invalid(
            key_at, absl::StrCat("has a name of ", length, " bytes (at most ", kMaxKeyBytes, ")"));
      }
      item_name_.resize(static_cast<size_t>(length));
      if (!Read(item_name_.data(), item_name_.size())) return false;
      item_name_known_ = true;
      const uint64_t type_at = pos_;
      uint32_t type = 0;
      if (!ReadU32(&type)) return false;
      if (type >= kValueTypeCount) {
        return Invalid(type_at, absl::StrCat("has unknown value type ", type,
                                             " (known types are 0 to ", kValueTypeCount - 1, ")"));
      }
      if (!ReadValue(type)) return false;
    }
    return true;
  }

  // Reads the value of the current key, keeping it when it is one of the summary's fields.
  bool ReadValue(uint32_t type) {
    const absl::string_view key = item_name_;
    if (key == "general.architecture" || key == "general.name") {
      const Field field = key == "general.architecture" ? kArchitecture : kName;
      std::string value;
      if (!ReadKeptString(type, &value) || !MarkSeen(field, index_)) return false;
      if (field == kName) {
        summary_.name = std::move(value);
        return true;
      }
      summary_.architecture = std::move(value);
      return ResolvePending();
    }
    if (key == "general.file_type") {
      absl::StatusOr<uint64_t> value;
      if (!ReadInteger(type, &value)) return false;
      if (!value.ok()) return Fail(value.status());
      if (!MarkSeen(kFileType, index_)) return false;
      summary_.file_type = GgufFileTypeName(*value);
      return true;
    }
    for (auto [suffix, field] : {std::pair{".context_length", kContextLength},
                                 {".embedding_length", kEmbeddingLength},
                                 {".block_count", kBlockCount}}) {
      if (!absl::EndsWith(key, suffix)) continue;
      const absl::string_view prefix = key.substr(0, key.size() - strlen(suffix));
      if (seen_[kArchitecture] && prefix != summary_.architecture) break;  // another model's
      if (!seen_[kArchitecture] && pending_.size() >= kMaxPendingKeys) break;
      absl::StatusOr<uint64_t> value;
      if (!ReadInteger(type, &value)) return false;
      if (!seen_[kArchitecture]) {
        pending_.push_back({field, std::string(prefix), index_, std::move(value)});
        return true;
      }
      if (!value.ok()) return Fail(value.status());
      return MarkSeen(field, index_) && Store(field, *value);
    }
    return SkipValue(type, 0);
  }

  bool Store(Field field, uint64_t value) {
    switch (field) {
      case kContextLength:
        summary_.context_length = value;
        break;
      case kEmbeddingLength:
        summary_.embedding_length = value;
        break;
      case kBlockCount:
        summary_.block_count = value;
        break;
      default:
        break;
    }
    return true;
  }

  bool MarkSeen(Field field, uint64_t index) {
    if (seen_[field]) {
      return Fail(absl::InvalidArgumentError(
          absl::StrCat(source_name_, ": metadata keys ", seen_index_[field], " and ", index,
                       " have the same name ", Quoted(item_name_))));
    }
    seen_[field] = true;
    seen_index_[field] = index;
    return true;
  }

  // Applies the "<arch>.*" keys seen before general.architecture; drops other models' keys.
  bool ResolvePending() {
    for (Pending& pending : pending_) {
      if (pending.prefix != summary_.architecture) continue;
      if (!pending.value.ok()) return Fail(pending.value.status());
      if (seen_[pending.field]) {
        item_name_ = pending.prefix + (pending.field == kContextLength     ? ".context_length"
                                       : pending.field == kEmbeddingLength ? ".embedding_length"
                                                                           : ".block_count");
        return MarkSeen(pending.field, pending.index);
      }
      seen_[pending.field] = true;
      seen_index_[pending.field] = pending.index;
      Store(pending.field, *pending.value);
    }
    pending_.clear();
    return true;
  }

  // A STRING value we keep; any other type is an error.
  bool ReadKeptString(uint32_t type, std::string* out) {
    const uint64_t at = pos_;
    if (type != kString) {
      return Invalid(at, absl::StrCat("has type ", TypeName(type), ", expected STRING"));
    }
    uint64_t length = 0;
    if (!ReadU64(&length)) return false;
    if (length > remaining()) {
      return Claims(absl::StrCat("the string in ", Context()), at, length, "bytes");
    }
    if (length > kMaxKeptStringBytes) {
      return Invalid(at, absl::StrCat("is a string of ", length, " bytes (at most ",
                                      kMaxKeptStringBytes, ")"));
    }
    out->resize(static_cast<size_t>(length));
    return Read(out->data(), out->size());
  }

  // An integer value of any width. Returns false only when reading fails; a value of another
  // type (skipped) or a negative one leaves an InvalidArgument error in *out.
  bool ReadInteger(uint32_t type, absl::StatusOr<uint64_t>* out) {
    const uint64_t at = pos_;
    if (!IsInteger(type)) {
      *out = absl::InvalidArgumentError(absl::StrCat(source_name_, ": ", Context(), " at byte ", at,
                                                     " has type ", TypeName(type),
                                                     ", expected an integer"));
      return SkipValue(type, 0);
    }
    const size_t size = static_cast<size_t>(FixedSize(type));
    uint64_t raw = 0;
    if (!ReadUint(size, &raw)) return false;
    const bool is_signed = type == kInt8 || type == kInt16 || type == kInt32 || type == kInt64;
    if (is_signed && (raw >> (8 * size - 1)) & 1) {
      const int64_t negative = static_cast<int64_t>(raw | (size < 8 ? ~0ULL << (8 * size) : 0));
      *out = absl::InvalidArgumentError(absl::StrCat(source_name_, ": ", Context(), " at byte ", at,
                                                     " is ", negative, " (", TypeName(type),
                                                     "), which must not be negative"));
      return true;
    }
    *out = raw;
    return true;
  }

  // Skips a value without keeping it; `depth` counts the arrays around it.
  bool SkipValue(uint32_t type, int depth) {
    const uint64_t at = pos_;
    if (type == kString) {
      uint64_t length = 0;
      if (!ReadU64(&length)) return false;
      if (length > remaining()) {
        return Claims(absl::StrCat("a string in ", Context()), at, length, "bytes");
      }
      return Skip(length);
    }
    if (type != kArray) return Skip(FixedSize(type));
    if (depth >= kMaxArrayDepth) {
      return Invalid(at, absl::StrCat("nests arrays more than ", kMaxArrayDepth, " deep"));
    }
    uint32_t element_type = 0;
    uint64_t count = 0;
    if (!ReadU32(&element_type)) return false;
    if (element_type >= kValueTypeCount) {
      return Invalid(at, absl::StrCat("has an array of unknown value type ", element_type,
                                      " (known types are 0 to ", kValueTypeCount - 1, ")"));
    }
    if (!ReadU64(&count)) return false;
    const uint64_t min_size = MinElementSize(element_type);
    if (count > remaining() / min_size) {
      return Claims(absl::StrCat("an array in ", Context()), at, count,
                    absl::StrCat("elements of type ", TypeName(element_type)));
    }
    if (FixedSize(element_type) != 0) return Skip(count * min_size);
    for (uint64_t i = 0; i < count; ++i) {
      if (!SkipValue(element_type, depth + 1)) return false;
    }
    return true;
  }

  // --- Tensor infos. ---

  bool ParseTensorInfos() {
    section_ = Section::kTensors;
    for (uint64_t i = 0; i < summary_.tensor_count; ++i) {
      index_ = i;
      item_name_known_ = false;
      item_name_.clear();
      const uint64_t name_at = pos_;
      uint64_t length = 0;
      if (!ReadU64(&length)) return false;
      if (length > remaining()) {
        return Claims(absl::StrCat("the name of tensor ", i), name_at, length, "bytes");
      }
      // Only the start of the name is kept, for messages.
      const size_t kept = static_cast<size_t>(std::min<uint64_t>(length, kMaxNameInMessages + 1));
      item_name_.resize(kept);
      if (!Read(item_name_.data(), kept) || !Skip(length - kept)) return false;
      item_name_known_ = true;

      const uint64_t dims_at = pos_;
      uint32_t n_dims = 0;
      if (!ReadU32(&n_dims)) return false;
      if (n_dims > kMaxDims) {
        return Invalid(dims_at,
                       absl::StrCat("has ", n_dims, " dimensions (at most ", kMaxDims, ")"));
      }
      std::array<uint64_t, kMaxDims> dims = {};
      for (uint32_t d = 0; d < n_dims; ++d) {
        const uint64_t dim_at = pos_;
        if (!ReadU64(&dims[d])) return false;
        if (dims[d] > kMaxInt64) {
          return Invalid(dim_at, absl::StrCat("has dimension ", d, " of ", dims[d],
                                              " (negative as the signed 64-bit value ggml uses)"));
        }
      }
      uint64_t elements = 1;
      bool overflow = false;
      for (uint32_t d = 0; d < n_dims; ++d) {
        overflow |= __builtin_mul_overflow(elements, dims[d], &elements);
      }
      if (std::find(dims.begin(), dims.begin() + n_dims, 0) != dims.begin() + n_dims) {
        elements = 0;  // an empty tensor, whatever its other dimensions
        overflow = false;
      }
      if (overflow || elements > kMaxInt64) {
        return Invalid(
            dims_at, absl::StrCat("has ", absl::StrJoin(dims.begin(), dims.begin() + n_dims, " x "),
                                  " elements, more than 2^63 - 1"));
      }
      uint32_t ggml_type = 0;
      uint64_t offset = 0;
      if (!ReadU32(&ggml_type) || !ReadU64(&offset)) return false;
      if (__builtin_add_overflow(summary_.parameter_count, elements, &summary_.parameter_count)) {
        return Invalid(dims_at, "brings the parameter count over 2^64 - 1");
      }
    }
    return true;
  }

  ByteSource& source_;
  const absl::string_view source_name_;
  const uint64_t size_;
  uint64_t pos_ = 0;
  std::vector<char> buffer_;
  uint64_t buffer_start_ = 0;
  absl::Status status_;

  Section section_ = Section::kHeader;
  std::string field_;  // in the header: what is being read
  uint64_t index_ = 0;
  std::string item_name_;  // the current key, or the start of the current tensor's name
  bool item_name_known_ = false;

  uint64_t kv_count_ = 0;
  GgufSummary summary_;
  bool seen_[kFieldCount] = {};
  uint64_t seen_index_[kFieldCount] = {};
  std::vector<Pending> pending_;
};

}  // namespace

std::string GgufFileTypeName(uint64_t file_type) {
  // enum llama_ftype (llama.h); nullptr where the value was never or is no longer defined.
  static constexpr const char* kNames[] = {
      "ALL_F32",  "F16",    "Q4_0",    "Q4_1",      "Q4_1_SOME_F16", nullptr,    nullptr,
      "Q8_0",     "Q5_0",   "Q5_1",    "Q2_K",      "Q3_K_S",        "Q3_K_M",   "Q3_K_L",
      "Q4_K_S",   "Q4_K_M", "Q5_K_S",  "Q5_K_M",    "Q6_K",          "IQ2_XXS",  "IQ2_XS",
      "Q2_K_S",   "IQ3_XS", "IQ3_XXS", "IQ1_S",     "IQ4_NL",        "IQ3_S",    "IQ3_M",
      "IQ2_S",    "IQ2_M",  "IQ4_XS",  "IQ1_M",     "BF16",          "Q4_0_4_4", "Q4_0_4_8",
      "Q4_0_8_8", "TQ1_0",  "TQ2_0",   "MXFP4_MOE", "NVFP4",         "Q1_0"};
  if (file_type < std::size(kNames) && kNames[file_type] != nullptr) return kNames[file_type];
  return absl::StrCat("unknown (", file_type, ")");
}

absl::StatusOr<GgufSummary> ParseGgufSummary(absl::string_view bytes,
                                             absl::string_view source_name) {
  MemorySource source(bytes);
  return Parser(source, source_name).Parse();
}

absl::StatusOr<GgufSummary> ReadGgufSummary(const std::string& path) {
  // O_NONBLOCK: opening a FIFO must not wait for a writer (it is rejected below).
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return absl::NotFoundError(absl::StrCat(path, ": no such file"));
    }
    if (error == EACCES || error == EPERM) {
      return absl::PermissionDeniedError(absl::StrCat(path, ": cannot open: ", strerror(error)));
    }
    return absl::FailedPreconditionError(absl::StrCat(path, ": cannot open: ", strerror(error)));
  }
  absl::StatusOr<GgufSummary> summary = ReadGgufSummaryOfOpenFile(fd, path);
  close(fd);
  return summary;
}

absl::StatusOr<GgufSummary> ReadGgufSummaryOfOpenFile(int fd, absl::string_view name) {
  struct stat info {};
  if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    const bool is_dir = S_ISDIR(info.st_mode);
    return absl::FailedPreconditionError(absl::StrCat(
        name, is_dir ? ": is a directory" : ": not a regular file", ", not a GGUF model file"));
  }
  FileSource source(name, fd, static_cast<uint64_t>(info.st_size));
  return Parser(source, name).Parse();
}

}  // namespace llorch
