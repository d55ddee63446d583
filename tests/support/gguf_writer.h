// Builds GGUF files (versions 2 and 3, little-endian) for tests: metadata of every value type,
// including arrays of strings and arrays of arrays, and tensor infos; plus the broken files a
// reader must survive: wrong magic or version, counts and lengths that claim more than the file
// holds, unknown value types, raw bytes anywhere in the metadata or tensor infos. Truncate a
// file by cutting its bytes: Build().substr(0, n).
//
//   GgufBuilder gguf(3);
//   gguf.AddString("general.architecture", "llama").AddUint32("llama.context_length", 2048);
//   gguf.Add("tokenizer.ggml.tokens", GgufValue::StringArray({"<s>", "</s>"}));
//   gguf.AddTensor("token_embd.weight", {2048, 32000});
//   std::string header = gguf.Build();          // magic .. end of the tensor infos
//   std::string file = gguf.BuildWithData();     // + alignment padding + zeroed tensor data
#ifndef LLORCH_TESTS_SUPPORT_GGUF_WRITER_H_
#define LLORCH_TESTS_SUPPORT_GGUF_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace llorch::testing {

// GGUF metadata value types. Other numbers can be cast in to write unknown types.
enum class GgufType : uint32_t {
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
};

// One encoded metadata value: its type and the bytes that follow the type tag in the file.
// Values compose: an array's elements are values of its element type (arrays of arrays too).
struct GgufValue {
  GgufType type = GgufType::kUint8;
  std::string bytes;

  static GgufValue Uint8(uint8_t value);
  static GgufValue Int8(int8_t value);
  static GgufValue Uint16(uint16_t value);
  static GgufValue Int16(int16_t value);
  static GgufValue Uint32(uint32_t value);
  static GgufValue Int32(int32_t value);
  static GgufValue Float32(float value);
  static GgufValue Bool(bool value);
  static GgufValue String(absl::string_view value);
  static GgufValue Uint64(uint64_t value);
  static GgufValue Int64(int64_t value);
  static GgufValue Float64(double value);
  // Every element must have type `element_type` (aborts otherwise: a bug in the test).
  static GgufValue Array(GgufType element_type, const std::vector<GgufValue>& elements);
  static GgufValue StringArray(const std::vector<std::string>& strings);

  // Broken values. A string whose length field says `claimed_length`, followed by `bytes`.
  static GgufValue StringClaiming(uint64_t claimed_length, absl::string_view bytes);
  // An array whose count field says `claimed_count`, followed by `element_bytes`.
  static GgufValue ArrayClaiming(GgufType element_type, uint64_t claimed_count,
                                 absl::string_view element_bytes);
  // Any type tag (e.g. static_cast<GgufType>(13)) followed by any bytes.
  static GgufValue Raw(GgufType type, absl::string_view bytes);
};

// Little-endian encodings, for hand-made raw entries.
std::string GgufU32(uint32_t value);
std::string GgufU64(uint64_t value);
std::string GgufString(absl::string_view value);  // uint64 length + bytes

// ggml tensor types the data layout knows the size of (others count 1 byte per element).
inline constexpr uint32_t kGgmlF32 = 0;
inline constexpr uint32_t kGgmlF16 = 1;
inline constexpr uint32_t kGgmlQ4_0 = 2;
inline constexpr uint32_t kGgmlQ8_0 = 8;
inline constexpr uint32_t kGgmlQ4_K = 12;
inline constexpr uint32_t kGgmlQ6_K = 14;
inline constexpr uint32_t kGgmlBF16 = 30;

class GgufBuilder {
 public:
  explicit GgufBuilder(uint32_t version = 3) : version_(version) {}

  // Metadata, in file order. A UINT32 "general.alignment" also sets the data layout's alignment.
  GgufBuilder& Add(absl::string_view key, const GgufValue& value);
  GgufBuilder& AddString(absl::string_view key, absl::string_view value);
  GgufBuilder& AddUint32(absl::string_view key, uint32_t value);
  GgufBuilder& AddUint64(absl::string_view key, uint64_t value);
  GgufBuilder& AddInt32(absl::string_view key, int32_t value);
  GgufBuilder& AddFloat32(absl::string_view key, float value);
  GgufBuilder& AddBool(absl::string_view key, bool value);
  GgufBuilder& AddStringArray(absl::string_view key, const std::vector<std::string>& values);

  // A tensor info; its offset is laid out after the previous tensor's data, aligned.
  // The dims are written as given, so more than 4 of them makes a broken file.
  GgufBuilder& AddTensor(absl::string_view name, const std::vector<uint64_t>& dims,
                         uint32_t ggml_type = kGgmlF32);

  // Raw bytes written as one metadata pair / one tensor info, and counted as one.
  GgufBuilder& AddRawMetadata(absl::string_view bytes);
  GgufBuilder& AddRawTensorInfo(absl::string_view bytes);

  // Overrides for broken files: the magic bytes, and the counts written in the header.
  GgufBuilder& SetMagic(absl::string_view magic);
  GgufBuilder& SetTensorCount(uint64_t count);
  GgufBuilder& SetMetadataCount(uint64_t count);

  // Magic to the end of the tensor infos: exactly what a header reader reads.
  std::string Build() const;
  // Build() + padding to the alignment + every tensor's data filled with `fill`.
  std::string BuildWithData(char fill = '\0') const;

  // Sum over AddTensor() tensors of the product of their dims.
  uint64_t parameter_count() const;

 private:
  struct Tensor {
    std::string raw;  // set for AddRawTensorInfo()
    std::string name;
    std::vector<uint64_t> dims;
    uint32_t ggml_type = 0;
  };

  // Data offsets (relative to the data section) of the tensors, and the section's size.
  std::vector<uint64_t> Layout(uint64_t* data_bytes) const;

  uint32_t version_;
  std::string magic_ = "GGUF";
  std::vector<std::string> metadata_;
  std::vector<Tensor> tensors_;
  uint64_t alignment_ = 32;
  bool tensor_count_set_ = false, metadata_count_set_ = false;
  uint64_t tensor_count_ = 0, metadata_count_ = 0;
};

// A valid GGUF model file of exactly `size` bytes (at least a few hundred) whose tensor data is
// pseudo-random from `seed`, so that bytes in the wrong place change its hash: what the fake Hub
// serves as a model.
std::string GgufFileOfSize(uint64_t size, uint32_t seed);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_GGUF_WRITER_H_
