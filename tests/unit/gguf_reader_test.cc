#include "agent/models/store/gguf_reader.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/support/gguf_writer.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
using ::llorch::testing::GgufBuilder;
using ::llorch::testing::GgufType;
using ::llorch::testing::GgufValue;
using ::testing::AnyOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr uint64_t kHuge = uint64_t{1} << 62;  // 4611686018427387904

// A fresh directory under $TMPDIR (or /tmp), removed with its contents at the end of the test.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string pattern = absl::StrCat(base && *base ? base : "/tmp", "/gguf_reader_test.XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) abort();
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  std::string File(absl::string_view name) const { return absl::StrCat(path_, "/", name); }

 private:
  std::string path_;
};

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

std::vector<GgufValue> Three(GgufValue (*make)(int)) { return {make(1), make(2), make(3)}; }

// A llama model's header that uses every metadata value type, arrays of each, arrays of strings
// and nested arrays, with the summary's integers in three different integer types.
GgufBuilder EveryValueType(uint32_t version) {
  GgufBuilder gguf(version);
  gguf.AddString("general.architecture", "llama");
  gguf.AddString("general.name", "TinyLlama 1.1B Chat");
  gguf.Add("llama.context_length", GgufValue::Uint64(4096));
  gguf.Add("llama.embedding_length", GgufValue::Int32(2048));
  gguf.Add("llama.block_count", GgufValue::Uint8(22));
  gguf.Add("general.file_type", GgufValue::Uint16(15));
  gguf.Add("general.alignment", GgufValue::Uint32(64));
  gguf.Add("test.uint8", GgufValue::Uint8(200));
  gguf.Add("test.int8", GgufValue::Int8(-5));
  gguf.Add("test.uint16", GgufValue::Uint16(60000));
  gguf.Add("test.int16", GgufValue::Int16(-300));
  gguf.Add("test.uint32", GgufValue::Uint32(4000000000u));
  gguf.Add("test.int32", GgufValue::Int32(-7));
  gguf.Add("test.float32", GgufValue::Float32(0.5f));
  gguf.Add("test.bool", GgufValue::Bool(true));
  gguf.Add("test.string", GgufValue::String("h\xc3\xa9llo"));
  gguf.Add("test.uint64", GgufValue::Uint64(uint64_t{1} << 40));
  gguf.Add("test.int64", GgufValue::Int64(-1));
  gguf.Add("test.float64", GgufValue::Float64(3.25));
  gguf.Add("test.array.uint8", GgufValue::Array(GgufType::kUint8, Three([](int v) {
                                                  return GgufValue::Uint8(static_cast<uint8_t>(v));
                                                })));
  gguf.Add("test.array.int8", GgufValue::Array(GgufType::kInt8, Three([](int v) {
                                                 return GgufValue::Int8(static_cast<int8_t>(-v));
                                               })));
  gguf.Add("test.array.uint16",
           GgufValue::Array(GgufType::kUint16, Three([](int v) {
                              return GgufValue::Uint16(static_cast<uint16_t>(v));
                            })));
  gguf.Add("test.array.int16", GgufValue::Array(GgufType::kInt16, Three([](int v) {
                                                  return GgufValue::Int16(static_cast<int16_t>(v));
                                                })));
  gguf.Add("test.array.uint32",
           GgufValue::Array(GgufType::kUint32, Three([](int v) {
                              return GgufValue::Uint32(static_cast<uint32_t>(v));
                            })));
  gguf.Add("test.array.int32",
           GgufValue::Array(GgufType::kInt32, Three([](int v) { return GgufValue::Int32(v); })));
  gguf.Add("test.array.float32",
           GgufValue::Array(GgufType::kFloat32, Three([](int v) {
                              return GgufValue::Float32(static_cast<float>(v) / 2);
                            })));
  gguf.Add(
      "test.array.bool",
      GgufValue::Array(GgufType::kBool, Three([](int v) { return GgufValue::Bool(v % 2 == 0); })));
  gguf.Add("test.array.uint64",
           GgufValue::Array(GgufType::kUint64, Three([](int v) {
                              return GgufValue::Uint64(static_cast<uint64_t>(v));
                            })));
  gguf.Add("test.array.int64",
           GgufValue::Array(GgufType::kInt64, Three([](int v) { return GgufValue::Int64(-v); })));
  gguf.Add("test.array.float64", GgufValue::Array(GgufType::kFloat64, Three([](int v) {
                                                    return GgufValue::Float64(v * 1.5);
                                                  })));
  gguf.Add("test.array.empty", GgufValue::Array(GgufType::kString, {}));
  gguf.AddStringArray("tokenizer.ggml.tokens", {"<unk>", "<s>", "</s>", "\xe2\x96\x81hello", ""});
  gguf.Add("tokenizer.ggml.scores",
           GgufValue::Array(GgufType::kFloat32,
                            {GgufValue::Float32(0), GgufValue::Float32(-1), GgufValue::Float32(-2),
                             GgufValue::Float32(-3), GgufValue::Float32(-4)}));
  gguf.Add("test.nested",
           GgufValue::Array(GgufType::kArray,
                            {GgufValue::Array(GgufType::kUint32, {GgufValue::Uint32(1)}),
                             GgufValue::Array(GgufType::kUint32, {})}));
  gguf.Add("test.nested_strings",
           GgufValue::Array(GgufType::kArray,
                            {GgufValue::StringArray({"a", "bc"}), GgufValue::StringArray({"d"})}));
  gguf.AddString("tokenizer.chat_template", "{% for m in messages %}{{ m.content }}{% endfor %}");
  gguf.AddTensor("token_embd.weight", {2048, 32000}, testing::kGgmlQ4_K);
  gguf.AddTensor("blk.0.attn_norm.weight", {2048});
  gguf.AddTensor("blk.0.ffn_up.weight", {2048, 5632}, testing::kGgmlQ6_K);
  gguf.AddTensor("test.3d", {2, 3, 4}, testing::kGgmlF16);
  gguf.AddTensor("test.4d", {1, 2, 3, 4}, testing::kGgmlBF16);
  return gguf;
}

constexpr uint64_t kEveryValueTypeParameters = 2048ull * 32000 + 2048 + 2048ull * 5632 + 24 + 24;

void ExpectEveryValueTypeSummary(const GgufSummary& summary, uint32_t version,
                                 uint64_t header_bytes) {
  EXPECT_EQ(summary.version, version);
  EXPECT_EQ(summary.architecture, "llama");
  EXPECT_EQ(summary.name, "TinyLlama 1.1B Chat");
  EXPECT_EQ(summary.context_length, 4096u);
  EXPECT_EQ(summary.embedding_length, 2048u);
  EXPECT_EQ(summary.block_count, 22u);
  EXPECT_EQ(summary.file_type, "Q4_K_M");
  EXPECT_EQ(summary.tensor_count, 5u);
  EXPECT_EQ(summary.parameter_count, kEveryValueTypeParameters);
  EXPECT_EQ(summary.header_bytes, header_bytes);
}

// A builder with general.architecture = llama and one tensor, to which a test adds one thing.
GgufBuilder Llama() {
  GgufBuilder gguf(3);
  gguf.AddString("general.architecture", "llama");
  return gguf;
}

absl::StatusOr<GgufSummary> Parse(const GgufBuilder& gguf) {
  return ParseGgufSummary(gguf.Build(), "/m/x.gguf");
}

class GgufVersionTest : public ::testing::TestWithParam<uint32_t> {};

TEST_P(GgufVersionTest, FileWithEveryValueTypeGivesTheSummary) {
  TempDir temp;
  const GgufBuilder gguf = EveryValueType(GetParam());
  WriteFile(temp.File("model.gguf"), gguf.BuildWithData('\x5a'));
  absl::StatusOr<GgufSummary> summary = ReadGgufSummary(temp.File("model.gguf"));
  ASSERT_TRUE(summary.ok()) << summary.status();
  ExpectEveryValueTypeSummary(*summary, GetParam(), gguf.Build().size());
  EXPECT_EQ(summary->parameter_count, gguf.parameter_count());
}

TEST_P(GgufVersionTest, BytesInMemoryGiveTheSameSummary) {
  const GgufBuilder gguf = EveryValueType(GetParam());
  absl::StatusOr<GgufSummary> summary = ParseGgufSummary(gguf.BuildWithData());
  ASSERT_TRUE(summary.ok()) << summary.status();
  ExpectEveryValueTypeSummary(*summary, GetParam(), gguf.Build().size());
}

INSTANTIATE_TEST_SUITE_P(Versions, GgufVersionTest, ::testing::Values(2u, 3u));

TEST(GgufReaderTest, FileTypeIsShownByItsLlamaCppName) {
  const std::vector<std::pair<uint32_t, std::string>> cases = {
      {0, "ALL_F32"},       {1, "F16"},
      {2, "Q4_0"},          {7, "Q8_0"},
      {10, "Q2_K"},         {15, "Q4_K_M"},
      {17, "Q5_K_M"},       {18, "Q6_K"},
      {30, "IQ4_XS"},       {32, "BF16"},
      {38, "MXFP4_MOE"},    {5, "unknown (5)"},
      {41, "unknown (41)"}, {999, "unknown (999)"}};
  for (const auto& [value, name] : cases) {
    GgufBuilder gguf = Llama();
    gguf.AddUint32("general.file_type", value);
    absl::StatusOr<GgufSummary> summary = Parse(gguf);
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_EQ(summary->file_type, name) << value;
    EXPECT_EQ(GgufFileTypeName(value), name);
  }
  EXPECT_EQ(Parse(Llama())->file_type, "");
}

TEST(GgufReaderTest, NumericFieldsAcceptEveryIntegerType) {
  const std::vector<GgufValue> values = {
      GgufValue::Uint8(42),  GgufValue::Int8(42),  GgufValue::Uint16(42), GgufValue::Int16(42),
      GgufValue::Uint32(42), GgufValue::Int32(42), GgufValue::Uint64(42), GgufValue::Int64(42)};
  for (const GgufValue& value : values) {
    GgufBuilder gguf = Llama();
    gguf.Add("llama.context_length", value);
    gguf.Add("llama.embedding_length", value);
    gguf.Add("llama.block_count", value);
    gguf.Add("general.file_type", value);
    absl::StatusOr<GgufSummary> summary = Parse(gguf);
    ASSERT_TRUE(summary.ok()) << summary.status();
    EXPECT_EQ(summary->context_length, 42u);
    EXPECT_EQ(summary->embedding_length, 42u);
    EXPECT_EQ(summary->block_count, 42u);
    EXPECT_EQ(summary->file_type, "unknown (42)");
  }
  GgufBuilder big = Llama();
  big.AddUint64("llama.context_length", std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(Parse(big)->context_length, std::numeric_limits<uint64_t>::max());
}

TEST(GgufReaderTest, NegativeNumericFieldIsRejectedNamingTheKey) {
  GgufBuilder gguf = Llama();
  const size_t at = gguf.Build().size() + 8 + strlen("llama.context_length") + 4;
  gguf.Add("llama.context_length", GgufValue::Int16(-1));
  EXPECT_EQ(Parse(gguf).status(), absl::InvalidArgumentError(absl::StrCat(
                                      "/m/x.gguf: metadata key 1 ('llama.context_length') at byte ",
                                      at, " is -1 (INT16), which must not be negative")));
  GgufBuilder int64 = Llama();
  int64.Add("general.file_type", GgufValue::Int64(std::numeric_limits<int64_t>::min()));
  EXPECT_THAT(Parse(int64).status().message(), HasSubstr("is -9223372036854775808 (INT64)"));
}

TEST(GgufReaderTest, NonIntegerNumericFieldIsRejected) {
  for (const GgufValue& value :
       {GgufValue::Float32(2048), GgufValue::Float64(2048), GgufValue::Bool(true),
        GgufValue::String("2048"), GgufValue::StringArray({"2048"})}) {
    GgufBuilder gguf = Llama();
    gguf.Add("llama.block_count", value);
    absl::Status status = Parse(gguf).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(),
                HasSubstr("metadata key 1 ('llama.block_count') at byte 98 has type "));
    EXPECT_THAT(status.message(), HasSubstr(", expected an integer"));
  }
}

TEST(GgufReaderTest, NonStringArchitectureIsRejected) {
  GgufBuilder gguf(3);
  gguf.AddUint32("general.architecture", 7);
  EXPECT_EQ(Parse(gguf).status(),
            absl::InvalidArgumentError("/m/x.gguf: metadata key 0 ('general.architecture') at "
                                       "byte 56 has type UINT32, expected STRING"));
}

TEST(GgufReaderTest, ArchitectureKeysBeforeGeneralArchitectureAreUsed) {
  GgufBuilder gguf(3);
  gguf.AddUint32("qwen2.context_length", 32768);
  gguf.AddUint32("qwen2.block_count", 24);
  gguf.AddFloat32("bert.context_length", 1.5f);  // another model's key, even a malformed one
  gguf.AddString("general.architecture", "qwen2");
  gguf.AddUint32("qwen2.embedding_length", 896);
  absl::StatusOr<GgufSummary> summary = Parse(gguf);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->architecture, "qwen2");
  EXPECT_EQ(summary->context_length, 32768u);
  EXPECT_EQ(summary->embedding_length, 896u);
  EXPECT_EQ(summary->block_count, 24u);
}

TEST(GgufReaderTest, MalformedArchitectureKeyBeforeGeneralArchitectureIsReportedOnceKnown) {
  GgufBuilder gguf(3);
  gguf.AddFloat32("phi3.context_length", 4096);
  gguf.AddString("general.architecture", "phi3");
  EXPECT_THAT(Parse(gguf).status().message(),
              HasSubstr("metadata key 0 ('phi3.context_length') at byte 55 has type FLOAT32, "
                        "expected an integer"));
}

TEST(GgufReaderTest, OtherArchitecturesKeysAreIgnored) {
  GgufBuilder gguf = Llama();
  gguf.AddUint32("bert.context_length", 512);
  gguf.AddString("mistral.block_count", "not even a number");
  absl::StatusOr<GgufSummary> summary = Parse(gguf);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->context_length, 0u);
  EXPECT_EQ(summary->block_count, 0u);
}

TEST(GgufReaderTest, DuplicateKeyOfTheSummaryIsRejected) {
  GgufBuilder gguf = Llama();
  gguf.AddUint32("llama.block_count", 22);
  gguf.AddUint32("llama.block_count", 23);
  EXPECT_EQ(Parse(gguf).status(),
            absl::InvalidArgumentError(
                "/m/x.gguf: metadata keys 1 and 2 have the same name 'llama.block_count'"));

  GgufBuilder early(3);
  early.AddUint32("llama.block_count", 22);
  early.AddString("general.architecture", "llama");
  early.AddUint32("llama.block_count", 23);
  EXPECT_THAT(Parse(early).status().message(),
              HasSubstr("metadata keys 0 and 2 have the same name 'llama.block_count'"));
}

TEST(GgufReaderTest, AbsentFieldsAreEmptyOrZero) {
  GgufBuilder gguf(3);
  gguf.AddTensor("w", {4, 4});
  absl::StatusOr<GgufSummary> summary = Parse(gguf);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->architecture, "");
  EXPECT_EQ(summary->name, "");
  EXPECT_EQ(summary->context_length, 0u);
  EXPECT_EQ(summary->embedding_length, 0u);
  EXPECT_EQ(summary->block_count, 0u);
  EXPECT_EQ(summary->file_type, "");
  EXPECT_EQ(summary->tensor_count, 1u);
  EXPECT_EQ(summary->parameter_count, 16u);

  absl::StatusOr<GgufSummary> empty = Parse(GgufBuilder(3));
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_EQ(empty->header_bytes, 24u);
  EXPECT_EQ(empty->parameter_count, 0u);
}

TEST(GgufReaderTest, BadMagicIsRejectedNamingWhatWasFound) {
  TempDir temp;
  WriteFile(temp.File("x.gguf"), Llama().SetMagic("GGML").Build());
  EXPECT_EQ(ReadGgufSummary(temp.File("x.gguf")).status(),
            absl::InvalidArgumentError(absl::StrCat(
                temp.File("x.gguf"), ": not a GGUF file (magic 'GGML', expected 'GGUF')")));
  EXPECT_EQ(Parse(Llama().SetMagic(std::string("\0\x01GU", 4))).status(),
            absl::InvalidArgumentError(
                "/m/x.gguf: not a GGUF file (magic '\\x00\\x01GU', expected 'GGUF')"));
}

TEST(GgufReaderTest, CommonWrongDownloadsAreRecognised) {
  absl::Status lfs =
      ParseGgufSummary("version https://git-lfs.github.com/spec/v1\noid sha256:4ab3\nsize 669\n",
                       "/m/x.gguf")
          .status();
  EXPECT_EQ(lfs.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(lfs.message(), HasSubstr("magic 'vers', expected 'GGUF'"));
  EXPECT_THAT(lfs.message(), HasSubstr("Git LFS pointer"));
  EXPECT_THAT(ParseGgufSummary("<!DOCTYPE html><html>", "/m/x.gguf").status().message(),
              HasSubstr("HTML"));
  EXPECT_THAT(
      ParseGgufSummary("{\"error\":\"Repository not found\"}", "/m/x.gguf").status().message(),
      HasSubstr("JSON"));
}

TEST(GgufReaderTest, EmptyFileIsRejected) {
  TempDir temp;
  WriteFile(temp.File("empty.gguf"), "");
  absl::Status status = ReadGgufSummary(temp.File("empty.gguf")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(status.message()),
              StartsWith(temp.File("empty.gguf") + ": the file is empty"));
}

TEST(GgufReaderTest, Version1IsRejectedAsObsolete) {
  EXPECT_EQ(Parse(GgufBuilder(1)).status(),
            absl::InvalidArgumentError(
                "/m/x.gguf: unsupported GGUF version 1 (this reader supports 2 and 3; version 1 "
                "is obsolete: convert the model again with a current llama.cpp)"));
}

TEST(GgufReaderTest, FutureVersionIsRejected) {
  EXPECT_EQ(Parse(GgufBuilder(4)).status(),
            absl::InvalidArgumentError(
                "/m/x.gguf: unsupported GGUF version 4 (this reader supports 2 and 3)"));
  EXPECT_EQ(Parse(GgufBuilder(0)).status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(GgufReaderTest, BigEndianFileIsRecognised) {
  EXPECT_THAT(Parse(GgufBuilder(0x03000000)).status().message(),
              HasSubstr("unsupported GGUF version 50331648 (this reader supports 2 and 3; the "
                        "file looks like a big-endian GGUF version 3"));
}

// Every prefix of a valid header is a truncated file: each must fail cleanly, from a file and
// from memory, naming the source and where it ended.
TEST(GgufReaderTest, EveryTruncationOfTheHeaderFailsCleanly) {
  TempDir temp;
  const std::string header = EveryValueType(3).Build();
  const std::string path = temp.File("cut.gguf");
  WriteFile(path, header);
  for (size_t size = header.size(); size-- > 0;) {  // shorter and shorter: one truncate() each
    SCOPED_TRACE(absl::StrCat("cut at ", size, " of ", header.size()));
    ASSERT_EQ(truncate(path.c_str(), static_cast<off_t>(size)), 0);
    const absl::Status from_file = ReadGgufSummary(path).status();
    const absl::Status from_memory =
        ParseGgufSummary(absl::string_view(header).substr(0, size), path).status();
    EXPECT_EQ(from_file, from_memory);
    EXPECT_EQ(from_file.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(std::string(from_file.message()), StartsWith(path + ": "));
    if (size > 0) {
      EXPECT_THAT(from_file.message(),
                  AnyOf(HasSubstr(absl::StrCat("truncated at byte ", size, " while reading ")),
                        HasSubstr("more than the file holds")));
    }
  }
}

TEST(GgufReaderTest, TruncationNamesTheKeyBeingRead) {
  GgufBuilder gguf = Llama();
  for (int i = 1; i < 17; ++i) gguf.AddUint32(absl::StrCat("test.key", i), i);
  const size_t key_at = gguf.Build().size();
  gguf.AddStringArray("tokenizer.ggml.tokens", {"<s>", "</s>"});
  // Cut inside the array's element type, after the key and its value type.
  const size_t cut = key_at + 8 + strlen("tokenizer.ggml.tokens") + 4 + 2;
  EXPECT_EQ(ParseGgufSummary(gguf.Build().substr(0, cut), "/m/x.gguf").status(),
            absl::DataLossError(absl::StrCat("/m/x.gguf: truncated at byte ", cut,
                                             " while reading metadata key 17 "
                                             "('tokenizer.ggml.tokens')")));
  EXPECT_EQ(ParseGgufSummary(gguf.Build().substr(0, 14), "/m/x.gguf").status(),
            absl::DataLossError("/m/x.gguf: truncated at byte 14 while reading the tensor count"));
}

// Any byte of a header overwritten with any of a few values: no crash, no hang, no huge
// allocation (ASan would abort on one), and every error names the source.
TEST(GgufReaderTest, CorruptedBytesNeverCrash) {
  const std::string header = EveryValueType(3).Build();
  int failures = 0;
  for (size_t i = 0; i < header.size(); ++i) {
    for (char value : {'\x00', '\x01', '\x7f', '\x80', '\xfe', '\xff'}) {
      std::string corrupt = header;
      corrupt[i] = value;
      absl::StatusOr<GgufSummary> summary = ParseGgufSummary(corrupt, "/m/x.gguf");
      if (summary.ok()) continue;
      ++failures;
      EXPECT_THAT(summary.status().code(),
                  AnyOf(absl::StatusCode::kInvalidArgument, absl::StatusCode::kDataLoss));
      EXPECT_THAT(std::string(summary.status().message()), StartsWith("/m/x.gguf: "));
    }
  }
  EXPECT_GT(failures, 0);
}

TEST(GgufReaderTest, AbsurdTensorCountIsRejectedBeforeAllocating) {
  EXPECT_EQ(Parse(Llama().SetTensorCount(kHuge)).status(),
            absl::DataLossError("/m/x.gguf: the tensor count at byte 8 claims 4611686018427387904 "
                                "tensors, more than the file holds (only 45 bytes follow: the file "
                                "is truncated or corrupt)"));
  EXPECT_EQ(
      Parse(GgufBuilder(3).SetTensorCount(std::numeric_limits<uint64_t>::max())).status().code(),
      absl::StatusCode::kDataLoss);
}

TEST(GgufReaderTest, AbsurdMetadataCountIsRejectedBeforeAllocating) {
  EXPECT_EQ(Parse(Llama().SetMetadataCount(kHuge)).status(),
            absl::DataLossError("/m/x.gguf: the metadata count at byte 16 claims "
                                "4611686018427387904 key/value pairs, more than the file holds "
                                "(only 45 bytes follow: the file is truncated or corrupt)"));
}

TEST(GgufReaderTest, AbsurdStringLengthsAreRejectedBeforeAllocating) {
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  // A string the summary keeps.
  GgufBuilder name = Llama();
  const size_t name_at = name.Build().size() + 8 + strlen("general.name") + 4;
  name.Add("general.name", GgufValue::StringClaiming(kMax, "TinyLlama"));
  EXPECT_EQ(Parse(name).status(),
            absl::DataLossError(absl::StrCat(
                "/m/x.gguf: the string in metadata key 1 ('general.name') at byte ", name_at,
                " claims 9223372036854775807 bytes, more than the file holds (only 9 bytes "
                "follow: the file is truncated or corrupt)")));
  // A string the reader skips.
  GgufBuilder skipped = Llama();
  skipped.Add("tokenizer.chat_template", GgufValue::StringClaiming(kHuge, "{{"));
  EXPECT_THAT(Parse(skipped).status().message(),
              HasSubstr("a string in metadata key 1 ('tokenizer.chat_template') at byte 104 "
                        "claims 4611686018427387904 bytes, more than the file holds"));
  // A string inside an array.
  GgufBuilder element = Llama();
  element.Add("tokenizer.ggml.tokens",
              GgufValue::ArrayClaiming(
                  GgufType::kString, 2,
                  GgufValue::String("<s>").bytes + GgufValue::StringClaiming(kHuge, "</s>").bytes));
  EXPECT_THAT(Parse(element).status().message(),
              HasSubstr("a string in metadata key 1 ('tokenizer.ggml.tokens')"));
  // A key's name.
  GgufBuilder key = Llama();
  key.AddRawMetadata(testing::GgufU64(kHuge) + "general.name");
  EXPECT_EQ(Parse(key).status(),
            absl::DataLossError("/m/x.gguf: the name of metadata key 1 at byte 69 claims "
                                "4611686018427387904 bytes, more than the file holds (only 12 "
                                "bytes follow: the file is truncated or corrupt)"));
  // A tensor's name.
  GgufBuilder tensor = Llama();
  tensor.AddRawTensorInfo(testing::GgufU64(kHuge) + "token_embd.weight");
  EXPECT_THAT(Parse(tensor).status().message(),
              HasSubstr("the name of tensor 0 at byte 69 claims 4611686018427387904 bytes"));
}

TEST(GgufReaderTest, AbsurdArrayCountsAreRejectedBeforeAllocating) {
  for (GgufType type : {GgufType::kUint8, GgufType::kUint64, GgufType::kFloat64, GgufType::kString,
                        GgufType::kArray}) {
    GgufBuilder gguf = Llama();
    gguf.Add("tokenizer.ggml.tokens", GgufValue::ArrayClaiming(type, kHuge, "abcdefgh"));
    absl::Status status = Parse(gguf).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(status.message(),
                HasSubstr("/m/x.gguf: an array in metadata key 1 ('tokenizer.ggml.tokens') at "
                          "byte 102 claims 4611686018427387904 elements of type "));
    EXPECT_THAT(
        status.message(),
        HasSubstr(
            "more than the file holds (only 8 bytes follow: the file is truncated or corrupt)"));
  }
  // count * element size wraps around 2^64: still rejected.
  GgufBuilder wraps = Llama();
  wraps.Add("test", GgufValue::ArrayClaiming(GgufType::kUint64, uint64_t{1} << 61, ""));
  EXPECT_EQ(Parse(wraps).status().code(), absl::StatusCode::kDataLoss);
}

TEST(GgufReaderTest, OverlongKeyIsRejected) {
  GgufBuilder gguf = Llama();
  gguf.Add(std::string(70000, 'k'), GgufValue::Uint8(1));
  EXPECT_EQ(Parse(gguf).status(),
            absl::InvalidArgumentError(
                "/m/x.gguf: metadata key 1 at byte 69 has a name of 70000 bytes (at most 65535)"));
}

TEST(GgufReaderTest, TooManyDimensionsAreRejected) {
  GgufBuilder gguf = Llama();
  gguf.AddTensor("token_embd.weight", {4, 4});
  const size_t at = gguf.Build().size() + 8 + strlen("blk.0.attn_q.weight");
  gguf.AddTensor("blk.0.attn_q.weight", {1, 2, 3, 4, 5, 6, 7});
  EXPECT_EQ(Parse(gguf).status(), absl::InvalidArgumentError(absl::StrCat(
                                      "/m/x.gguf: tensor 1 ('blk.0.attn_q.weight') at byte ", at,
                                      " has 7 dimensions (at most 4)")));
}

TEST(GgufReaderTest, OverflowingTensorShapeIsRejected) {
  GgufBuilder gguf = Llama();
  gguf.AddTensor("w", {uint64_t{1} << 32, uint64_t{1} << 32});
  EXPECT_EQ(Parse(gguf).status(),
            absl::InvalidArgumentError("/m/x.gguf: tensor 0 ('w') at byte 78 has 4294967296 x "
                                       "4294967296 elements, more than 2^63 - 1"));
  GgufBuilder int64 = Llama();
  int64.AddTensor("w", {uint64_t{1} << 31, uint64_t{1} << 32});  // 2^63: over int64
  EXPECT_EQ(Parse(int64).status().code(), absl::StatusCode::kInvalidArgument);
  GgufBuilder negative = Llama();
  negative.AddTensor("w", {16, std::numeric_limits<uint64_t>::max()});
  EXPECT_EQ(Parse(negative).status(),
            absl::InvalidArgumentError("/m/x.gguf: tensor 0 ('w') at byte 90 has dimension 1 of "
                                       "18446744073709551615 (negative as the signed 64-bit "
                                       "value ggml uses)"));
}

TEST(GgufReaderTest, OverflowingParameterCountIsRejected) {
  GgufBuilder gguf = Llama();
  for (int i = 0; i < 4; ++i) gguf.AddTensor(absl::StrCat("w", i), {uint64_t{1} << 31, 1u << 31});
  absl::Status status = Parse(gguf).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("tensor 3 ('w3') at byte "));
  EXPECT_THAT(status.message(), HasSubstr("brings the parameter count over 2^64 - 1"));
}

TEST(GgufReaderTest, EmptyAndScalarTensorsCount) {
  GgufBuilder gguf = Llama();
  gguf.AddTensor("empty", {0, uint64_t{1} << 62, 8});
  gguf.AddTensor("scalar", {});
  gguf.AddTensor("w", {3, 5});
  absl::StatusOr<GgufSummary> summary = Parse(gguf);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->tensor_count, 3u);
  EXPECT_EQ(summary->parameter_count, 16u);
}

TEST(GgufReaderTest, UnknownValueTypeIsRejected) {
  GgufBuilder gguf = Llama();
  gguf.Add("test.future", GgufValue::Raw(static_cast<GgufType>(13), "\x01\x02\x03\x04"));
  EXPECT_EQ(Parse(gguf).status(),
            absl::InvalidArgumentError("/m/x.gguf: metadata key 1 ('test.future') at byte 88 has "
                                       "unknown value type 13 (known types are 0 to 12)"));
  GgufBuilder element = Llama();
  element.Add("test.future", GgufValue::ArrayClaiming(static_cast<GgufType>(0xffffffff), 1, "x"));
  EXPECT_THAT(Parse(element).status().message(),
              HasSubstr("metadata key 1 ('test.future') at byte 92 has an array of unknown "
                        "value type 4294967295"));
}

TEST(GgufReaderTest, ArraysNestFourDeepButNotFive) {
  GgufValue value = GgufValue::Array(GgufType::kUint8, {GgufValue::Uint8(1)});
  for (int depth = 1; depth <= 5; ++depth) {
    GgufBuilder gguf = Llama();
    gguf.Add("test.nested", value);
    gguf.AddString("general.name", "after");
    absl::StatusOr<GgufSummary> summary = Parse(gguf);
    if (depth <= 4) {
      ASSERT_TRUE(summary.ok()) << depth << ": " << summary.status();
      EXPECT_EQ(summary->name, "after");
    } else {
      EXPECT_EQ(summary.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_THAT(summary.status().message(), HasSubstr("metadata key 1 ('test.nested') at byte "));
      EXPECT_THAT(summary.status().message(), HasSubstr("nests arrays more than 4 deep"));
    }
    value = GgufValue::Array(GgufType::kArray, {value});
  }
}

TEST(GgufReaderTest, MissingFileIsNotFoundNamingThePath) {
  TempDir temp;
  EXPECT_EQ(ReadGgufSummary(temp.File("absent.gguf")).status(),
            absl::NotFoundError(temp.File("absent.gguf") + ": no such file"));
  EXPECT_EQ(ReadGgufSummary(temp.File("absent/x.gguf")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(GgufReaderTest, DirectoryAndFifoAreRejectedWithoutBlocking) {
  TempDir temp;
  fs::create_directory(temp.File("dir.gguf"));
  EXPECT_EQ(ReadGgufSummary(temp.File("dir.gguf")).status(),
            absl::FailedPreconditionError(temp.File("dir.gguf") +
                                          ": is a directory, not a GGUF model file"));
  ASSERT_EQ(mkfifo(temp.File("fifo.gguf").c_str(), 0600), 0);
  EXPECT_EQ(ReadGgufSummary(temp.File("fifo.gguf")).status(),
            absl::FailedPreconditionError(temp.File("fifo.gguf") +
                                          ": not a regular file, not a GGUF model file"));
}

// The reader needs nothing past the tensor infos: a file cut right there (no padding, no data)
// gives the same summary as the whole file.
TEST(GgufReaderTest, FileWithoutTensorDataStillParses) {
  TempDir temp;
  const GgufBuilder gguf = EveryValueType(3);
  const std::string header = gguf.Build();
  WriteFile(temp.File("whole.gguf"), gguf.BuildWithData('\x01'));
  WriteFile(temp.File("header.gguf"), header);
  ASSERT_GT(fs::file_size(temp.File("whole.gguf")), header.size() + 10'000'000);
  absl::StatusOr<GgufSummary> whole = ReadGgufSummary(temp.File("whole.gguf"));
  absl::StatusOr<GgufSummary> cut = ReadGgufSummary(temp.File("header.gguf"));
  ASSERT_TRUE(whole.ok()) << whole.status();
  ASSERT_TRUE(cut.ok()) << cut.status();
  ExpectEveryValueTypeSummary(*whole, 3, header.size());
  ExpectEveryValueTypeSummary(*cut, 3, header.size());
  EXPECT_LT(cut->header_bytes, 4096u);
}

TEST(GgufReaderTest, HeaderOfAnEightGibFileIsReadWithoutItsData) {
  TempDir temp;
  GgufBuilder gguf = Llama();
  gguf.AddTensor("token_embd.weight", {uint64_t{1} << 16, uint64_t{1} << 16});  // 16 GiB as F32
  const std::string header = gguf.Build();
  const std::string path = temp.File("big.gguf");
  WriteFile(path, header);
  if (truncate(path.c_str(), off_t{8} << 30) != 0) GTEST_SKIP() << "no sparse 8 GiB file here";
  absl::StatusOr<GgufSummary> summary = ReadGgufSummary(path);
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->header_bytes, header.size());
  EXPECT_LT(summary->header_bytes, 4096u);
  EXPECT_EQ(summary->parameter_count, uint64_t{1} << 32);
}

// A vocabulary of 200,000 tokens makes a header of several 64 KiB chunks; it is skipped, and
// the fields after it are still found.
TEST(GgufReaderTest, LargeVocabularySpanningManyChunksIsSkipped) {
  TempDir temp;
  std::vector<std::string> tokens;
  std::vector<GgufValue> scores;
  for (int i = 0; i < 200'000; ++i) {
    tokens.push_back(absl::StrCat("token", i));
    scores.push_back(GgufValue::Float32(static_cast<float>(-i)));
  }
  GgufBuilder gguf = Llama();
  gguf.AddStringArray("tokenizer.ggml.tokens", tokens);
  gguf.Add("tokenizer.ggml.scores", GgufValue::Array(GgufType::kFloat32, scores));
  gguf.AddString("general.name", "big vocabulary");
  gguf.AddUint32("llama.context_length", 8192);
  gguf.AddTensor("w", {10, 10});
  const std::string header = gguf.Build();
  ASSERT_GT(header.size(), 2'000'000u);
  WriteFile(temp.File("vocab.gguf"), header);
  absl::StatusOr<GgufSummary> summary = ReadGgufSummary(temp.File("vocab.gguf"));
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_EQ(summary->name, "big vocabulary");
  EXPECT_EQ(summary->context_length, 8192u);
  EXPECT_EQ(summary->parameter_count, 100u);
  EXPECT_EQ(summary->header_bytes, header.size());
}

// general.name placed across the first 64 KiB chunk boundary, at every offset around it.
TEST(GgufReaderTest, KeptStringAcrossAChunkBoundaryIsReadWhole) {
  TempDir temp;
  const std::string name(100, 'n');
  for (int shift = 0; shift < 140; ++shift) {
    GgufBuilder gguf = Llama();
    const size_t padding_at = gguf.Build().size();
    const size_t overhead = 8 + strlen("test.padding") + 4 + 4 + 8;
    const size_t name_value_at = 65536 - 120 + shift;
    const size_t count = name_value_at - padding_at - overhead - (8 + strlen("general.name") + 4);
    gguf.Add("test.padding",
             GgufValue::ArrayClaiming(GgufType::kUint8, count, std::string(count, 'p')));
    gguf.AddString("general.name", name);
    WriteFile(temp.File("pad.gguf"), gguf.Build());
    absl::StatusOr<GgufSummary> summary = ReadGgufSummary(temp.File("pad.gguf"));
    ASSERT_TRUE(summary.ok()) << shift << ": " << summary.status();
    EXPECT_EQ(summary->name, name) << shift;
  }
}

}  // namespace
}  // namespace llorch
