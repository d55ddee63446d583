#include "tests/support/gguf_writer.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>

namespace llorch::testing {
namespace {

std::string LittleEndian(uint64_t value, size_t bytes) {
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return out;
}

template <typename T>
std::string Bits(T value) {
  static_assert(sizeof(T) <= 8);
  uint64_t bits = 0;
  memcpy(&bits, &value, sizeof(T));  // little-endian hosts only, like the files
  return LittleEndian(bits, sizeof(T));
}

// Bytes of `elements` elements of a ggml type: {bytes per block, elements per block}.
uint64_t DataBytes(uint32_t ggml_type, uint64_t elements) {
  struct Size {
    uint32_t type;
    uint64_t block_bytes, block_elements;
  };
  static constexpr Size kSizes[] = {{0, 4, 1},      {1, 2, 1},      {2, 18, 32},    {3, 20, 32},
                                    {6, 22, 32},    {7, 24, 32},    {8, 34, 32},    {9, 36, 32},
                                    {10, 84, 256},  {11, 110, 256}, {12, 144, 256}, {13, 176, 256},
                                    {14, 210, 256}, {15, 292, 256}, {24, 1, 1},     {25, 2, 1},
                                    {26, 4, 1},     {27, 8, 1},     {28, 8, 1},     {30, 2, 1}};
  for (const Size& size : kSizes) {
    if (size.type == ggml_type) {
      return (elements + size.block_elements - 1) / size.block_elements * size.block_bytes;
    }
  }
  return elements;
}

uint64_t AlignUp(uint64_t value, uint64_t alignment) {
  return alignment == 0 ? value : (value + alignment - 1) / alignment * alignment;
}

uint64_t Elements(const std::vector<uint64_t>& dims) {
  uint64_t product = 1;
  for (uint64_t dim : dims) product *= dim;
  return product;
}

}  // namespace

std::string GgufU32(uint32_t value) { return LittleEndian(value, 4); }
std::string GgufU64(uint64_t value) { return LittleEndian(value, 8); }
std::string GgufString(absl::string_view value) {
  return GgufU64(value.size()) + std::string(value);
}

GgufValue GgufValue::Uint8(uint8_t value) { return {GgufType::kUint8, Bits(value)}; }
GgufValue GgufValue::Int8(int8_t value) { return {GgufType::kInt8, Bits(value)}; }
GgufValue GgufValue::Uint16(uint16_t value) { return {GgufType::kUint16, Bits(value)}; }
GgufValue GgufValue::Int16(int16_t value) { return {GgufType::kInt16, Bits(value)}; }
GgufValue GgufValue::Uint32(uint32_t value) { return {GgufType::kUint32, Bits(value)}; }
GgufValue GgufValue::Int32(int32_t value) { return {GgufType::kInt32, Bits(value)}; }
GgufValue GgufValue::Float32(float value) { return {GgufType::kFloat32, Bits(value)}; }
GgufValue GgufValue::Bool(bool value) { return {GgufType::kBool, std::string(1, value ? 1 : 0)}; }
GgufValue GgufValue::String(absl::string_view value) {
  return {GgufType::kString, GgufString(value)};
}
GgufValue GgufValue::Uint64(uint64_t value) { return {GgufType::kUint64, Bits(value)}; }
GgufValue GgufValue::Int64(int64_t value) { return {GgufType::kInt64, Bits(value)}; }
GgufValue GgufValue::Float64(double value) { return {GgufType::kFloat64, Bits(value)}; }

GgufValue GgufValue::Array(GgufType element_type, const std::vector<GgufValue>& elements) {
  std::string bytes;
  for (const GgufValue& element : elements) {
    if (element.type != element_type) {
      fprintf(stderr, "GgufValue::Array: element of type %u in an array of type %u\n",
              static_cast<unsigned>(element.type), static_cast<unsigned>(element_type));
      abort();
    }
    bytes += element.bytes;
  }
  return ArrayClaiming(element_type, elements.size(), bytes);
}

GgufValue GgufValue::StringArray(const std::vector<std::string>& strings) {
  std::vector<GgufValue> elements;
  for (const std::string& s : strings) elements.push_back(String(s));
  return Array(GgufType::kString, elements);
}

GgufValue GgufValue::StringClaiming(uint64_t claimed_length, absl::string_view bytes) {
  return {GgufType::kString, GgufU64(claimed_length) + std::string(bytes)};
}

GgufValue GgufValue::ArrayClaiming(GgufType element_type, uint64_t claimed_count,
                                   absl::string_view element_bytes) {
  return {GgufType::kArray, GgufU32(static_cast<uint32_t>(element_type)) + GgufU64(claimed_count) +
                                std::string(element_bytes)};
}

GgufValue GgufValue::Raw(GgufType type, absl::string_view bytes) {
  return {type, std::string(bytes)};
}

GgufBuilder& GgufBuilder::Add(absl::string_view key, const GgufValue& value) {
  if (key == "general.alignment" && value.type == GgufType::kUint32 && value.bytes.size() == 4) {
    alignment_ = 0;
    for (int i = 3; i >= 0; --i)
      alignment_ = (alignment_ << 8) | static_cast<uint8_t>(value.bytes[i]);
  }
  metadata_.push_back(GgufString(key) + GgufU32(static_cast<uint32_t>(value.type)) + value.bytes);
  return *this;
}

GgufBuilder& GgufBuilder::AddString(absl::string_view key, absl::string_view value) {
  return Add(key, GgufValue::String(value));
}
GgufBuilder& GgufBuilder::AddUint32(absl::string_view key, uint32_t value) {
  return Add(key, GgufValue::Uint32(value));
}
GgufBuilder& GgufBuilder::AddUint64(absl::string_view key, uint64_t value) {
  return Add(key, GgufValue::Uint64(value));
}
GgufBuilder& GgufBuilder::AddInt32(absl::string_view key, int32_t value) {
  return Add(key, GgufValue::Int32(value));
}
GgufBuilder& GgufBuilder::AddFloat32(absl::string_view key, float value) {
  return Add(key, GgufValue::Float32(value));
}
GgufBuilder& GgufBuilder::AddBool(absl::string_view key, bool value) {
  return Add(key, GgufValue::Bool(value));
}
GgufBuilder& GgufBuilder::AddStringArray(absl::string_view key,
                                         const std::vector<std::string>& values) {
  return Add(key, GgufValue::StringArray(values));
}

GgufBuilder& GgufBuilder::AddTensor(absl::string_view name, const std::vector<uint64_t>& dims,
                                    uint32_t ggml_type) {
  Tensor tensor;
  tensor.name = std::string(name);
  tensor.dims = dims;
  tensor.ggml_type = ggml_type;
  tensors_.push_back(std::move(tensor));
  return *this;
}

GgufBuilder& GgufBuilder::AddRawMetadata(absl::string_view bytes) {
  metadata_.emplace_back(bytes);
  return *this;
}

GgufBuilder& GgufBuilder::AddRawTensorInfo(absl::string_view bytes) {
  Tensor tensor;
  tensor.raw = std::string(bytes);
  tensors_.push_back(std::move(tensor));
  return *this;
}

GgufBuilder& GgufBuilder::SetMagic(absl::string_view magic) {
  magic_ = std::string(magic);
  return *this;
}

GgufBuilder& GgufBuilder::SetTensorCount(uint64_t count) {
  tensor_count_set_ = true;
  tensor_count_ = count;
  return *this;
}

GgufBuilder& GgufBuilder::SetMetadataCount(uint64_t count) {
  metadata_count_set_ = true;
  metadata_count_ = count;
  return *this;
}

std::vector<uint64_t> GgufBuilder::Layout(uint64_t* data_bytes) const {
  std::vector<uint64_t> offsets;
  uint64_t end = 0;
  for (const Tensor& tensor : tensors_) {
    if (!tensor.raw.empty()) {
      offsets.push_back(0);
      continue;
    }
    const uint64_t offset = AlignUp(end, alignment_);
    offsets.push_back(offset);
    end = offset + DataBytes(tensor.ggml_type, Elements(tensor.dims));
  }
  *data_bytes = end;
  return offsets;
}

std::string GgufBuilder::Build() const {
  std::string out = magic_;
  out += GgufU32(version_);
  out += GgufU64(tensor_count_set_ ? tensor_count_ : tensors_.size());
  out += GgufU64(metadata_count_set_ ? metadata_count_ : metadata_.size());
  for (const std::string& entry : metadata_) out += entry;
  uint64_t data_bytes = 0;
  const std::vector<uint64_t> offsets = Layout(&data_bytes);
  for (size_t i = 0; i < tensors_.size(); ++i) {
    const Tensor& tensor = tensors_[i];
    if (!tensor.raw.empty()) {
      out += tensor.raw;
      continue;
    }
    out += GgufString(tensor.name);
    out += GgufU32(static_cast<uint32_t>(tensor.dims.size()));
    for (uint64_t dim : tensor.dims) out += GgufU64(dim);
    out += GgufU32(tensor.ggml_type);
    out += GgufU64(offsets[i]);
  }
  return out;
}

std::string GgufBuilder::BuildWithData(char fill) const {
  std::string out = Build();
  out.resize(AlignUp(out.size(), alignment_), '\0');
  uint64_t data_bytes = 0;
  Layout(&data_bytes);
  out.append(data_bytes, fill);
  return out;
}

uint64_t GgufBuilder::parameter_count() const {
  uint64_t total = 0;
  for (const Tensor& tensor : tensors_) {
    if (tensor.raw.empty()) total += Elements(tensor.dims);
  }
  return total;
}

std::string GgufFileOfSize(uint64_t size, uint32_t seed) {
  GgufBuilder gguf(3);
  gguf.AddString("general.architecture", "llama").AddTensor("t", {size / 4});
  std::string bytes = gguf.BuildWithData();
  bytes.resize(size);
  std::mt19937 random(seed);
  for (size_t i = gguf.Build().size(); i < bytes.size(); ++i) {
    bytes[i] = static_cast<char>(random());
  }
  return bytes;
}

}  // namespace llorch::testing
