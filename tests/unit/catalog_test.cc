// Tests for the model catalog: the real catalog.toml, and one test per validation rule, each
// checking that the message names the source, the line and the entry.
#include "agent/models/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "common/status.h"

#ifndef LLORCH_SOURCE_DIR
#define LLORCH_SOURCE_DIR "/work/main"
#endif

namespace llorch {
namespace {

// A valid entry to start from (lines 1-7); tests replace or append keys.
constexpr char kTiny[] = R"([[models]]
id = "tiny"
name = "Tiny"
repo = "owner/tiny-GGUF"
file = "tiny.gguf"
dir = "tiny"
size_bytes = 1000
)";

// The conversion keys of a valid converted entry, appended after kTiny (lines 8-12).
constexpr char kConversion[] = R"(requires_conversion = true
converter = "llama.cpp"
converter_script = "reference/llama.cpp/convert_hf_to_gguf.py"
converter_args = ["--outtype", "f16"]
source_patterns = ["config.json", "*.safetensors"]
)";

std::string ParseError(const std::string& text) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(text, "test.toml");
  EXPECT_FALSE(catalog.ok()) << text;
  if (catalog.ok()) return "";
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument) << catalog.status();
  return std::string(catalog.status().message());
}

// `text` with the line `key = ...` replaced by `key = value`, or the line appended.
std::string With(const std::string& text, const std::string& key, const std::string& value) {
  std::string out = text;
  const size_t at = out.find("\n" + key + " = ");
  if (at == std::string::npos) return out + key + " = " + value + "\n";
  const size_t end = out.find('\n', at + 1);
  out.replace(at + 1, end - at - 1, key + " = " + value);
  return out;
}
std::string With(const std::string& key, const std::string& value) {
  return With(kTiny, key, value);
}

// `text` without the line `key = ...`.
std::string Without(const std::string& text, const std::string& key) {
  std::string out = text;
  const size_t at = out.find("\n" + key + " = ");
  if (at != std::string::npos) out.erase(at + 1, out.find('\n', at + 1) - at);
  return out;
}

#define EXPECT_CONTAINS(haystack, needle)              \
  EXPECT_TRUE(absl::StrContains((haystack), (needle))) \
      << "  actual: " << (haystack) << "\nexpected to contain: " << (needle)

// --- The real catalog.toml ---

class RealCatalogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Catalog> loaded =
        Catalog::LoadFile(std::string(LLORCH_SOURCE_DIR) + "/catalog.toml");
    ASSERT_TRUE(loaded.ok()) << loaded.status();
    catalog_ = *std::move(loaded);
  }
  const CatalogModel& Model(const char* id) {
    const CatalogModel* model = catalog_.Find(id);
    EXPECT_NE(model, nullptr) << id;
    static const CatalogModel kEmpty;
    return model ? *model : kEmpty;
  }
  Catalog catalog_;
};

TEST_F(RealCatalogTest, HasTheTenSpecModelsInOrder) {
  std::vector<std::string> ids;
  for (const CatalogModel& model : catalog_.models()) ids.push_back(model.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"tinyllama", "qwen", "qwen-fp16", "phi3", "llama3",
                                           "llama32", "llama2", "mistral", "gpt2", "granite"}));
  EXPECT_EQ(catalog_.source_name(), std::string(LLORCH_SOURCE_DIR) + "/catalog.toml");
}

TEST_F(RealCatalogTest, QwenModelsShareADirButNotAFile) {
  EXPECT_EQ(Model("qwen").dir, "qwen");
  EXPECT_EQ(Model("qwen-fp16").dir, "qwen");
  EXPECT_NE(Model("qwen").file, Model("qwen-fp16").file);
  EXPECT_EQ(Model("llama2").dir, "llama2-7b");
}

TEST_F(RealCatalogTest, Gpt2AndGraniteAreConvertedWithLlamaCpp) {
  for (const char* id : {"gpt2", "granite"}) {
    const CatalogModel& model = Model(id);
    ASSERT_TRUE(model.conversion.has_value()) << id;
    EXPECT_EQ(model.conversion->converter, "llama.cpp");
    EXPECT_EQ(model.conversion->script, "reference/llama.cpp/convert_hf_to_gguf.py");
    EXPECT_EQ(model.conversion->args, (std::vector<std::string>{"--outtype", "f32"}));
    EXPECT_EQ(model.conversion->output_type, "f32");
    const std::vector<std::string>& patterns = model.conversion->source_patterns;
    for (const char* wanted : {"config.json", "tokenizer.json", "*.safetensors"}) {
      EXPECT_NE(std::find(patterns.begin(), patterns.end(), wanted), patterns.end())
          << id << " lacks " << wanted;
    }
  }
  for (const CatalogModel& model : catalog_.models()) {
    if (model.id != "gpt2" && model.id != "granite") {
      EXPECT_FALSE(model.conversion.has_value()) << model.id;
    }
  }
}

TEST_F(RealCatalogTest, KnownDoubtsAreFlagged) {
  EXPECT_FALSE(Model("mistral").verified);
  EXPECT_CONTAINS(Model("mistral").note, "f16");
  EXPECT_FALSE(Model("granite").verified);
  EXPECT_GE(Model("granite").size_bytes, 12'000'000'000u);  // f32 of ~3-4B: 12-16 GB, not 8
  EXPECT_LE(Model("granite").size_bytes, 16'000'000'000u);
  EXPECT_CONTAINS(Model("llama32").name, "Komodo");
  EXPECT_CONTAINS(Model("phi3").note, "phi-3-mini-4k-instruct-q4.gguf");
  EXPECT_EQ(Model("phi3").former_files, std::vector<std::string>{"phi-3-mini-4k-instruct-q4.gguf"});
  EXPECT_TRUE(Model("tinyllama").verified);
  EXPECT_TRUE(Model("tinyllama").note.empty());
  for (const CatalogModel& model : catalog_.models()) {
    if (!model.verified) {
      EXPECT_FALSE(model.note.empty()) << model.id << " needs a note";
    }
    EXPECT_EQ(model.revision, "main") << model.id;
    EXPECT_FALSE(model.params.empty()) << model.id;
    EXPECT_FALSE(model.description.empty()) << model.id;
  }
}

TEST_F(RealCatalogTest, SizesAreTheMeasuredOnesWhereKnown) {
  EXPECT_EQ(Model("qwen").size_bytes, 469u << 20);           // 469 MB measured
  EXPECT_GE(Model("qwen-fp16").size_bytes, 1'200'000'000u);  // ~1.2 GB measured
  EXPECT_EQ(Model("tinyllama").size_bytes, 669'000'000u);
}

TEST_F(RealCatalogTest, LinesPointAtTheEntries) {
  int previous = 0;
  for (const CatalogModel& model : catalog_.models()) {
    EXPECT_GT(model.line, previous) << model.id;
    previous = model.line;
  }
}

TEST_F(RealCatalogTest, HubUrl) {
  EXPECT_EQ(Model("qwen").HubUrl(), "https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(Model("gpt2").HubUrl(), "https://huggingface.co/openai-community/gpt2");
}

// --- Parsing and defaults ---

TEST(CatalogTest, MinimalEntryGetsDefaults) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(
      std::string(kTiny) + "\n" + With(With("id", "\"tiny2\""), "file", "\"b.gguf\""), "test.toml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  ASSERT_EQ(catalog->models().size(), 2u);
  const CatalogModel& model = catalog->models()[0];
  EXPECT_EQ(model.id, "tiny");
  EXPECT_EQ(model.revision, "main");
  EXPECT_FALSE(model.verified);
  EXPECT_EQ(model.size_bytes, 1000u);
  EXPECT_TRUE(model.note.empty());
  EXPECT_FALSE(model.conversion.has_value());
  EXPECT_EQ(model.line, 1);
  EXPECT_EQ(catalog->models()[1].line, 9);
  EXPECT_EQ(catalog->models()[1].file, "b.gguf");
  EXPECT_EQ(model.HubUrl(), "https://huggingface.co/owner/tiny-GGUF");
  EXPECT_EQ(catalog->source_name(), "test.toml");
}

TEST(CatalogTest, SyntaxErrorNamesLineAndColumn) {
  const std::string message = ParseError("[[models]]\nid = \"x\nname = 1\n");
  EXPECT_TRUE(absl::StartsWith(message, "test.toml:2:8: TOML syntax error: ")) << message;
  EXPECT_TRUE(
      absl::StartsWith(ParseError(std::string(kTiny) + "id = \"again\"\n"), "test.toml:8:"));
}

TEST(CatalogTest, EmptyCatalogIsAnError) {
  EXPECT_EQ(ParseError(""), "test.toml: the catalog has no [[models]] entries");
  EXPECT_EQ(ParseError("# nothing\n"), "test.toml: the catalog has no [[models]] entries");
  EXPECT_EQ(ParseError("\nmodels = []\n"), "test.toml:2: the catalog has no [[models]] entries");
  EXPECT_EQ(ParseError("models = \"tiny\"\n"),
            "test.toml:1: models must be [[models]] entries, got a string");
  EXPECT_EQ(ParseError("models = [1]\n"),
            "test.toml:1: models must be [[models]] entries, got an integer");
}

TEST(CatalogTest, UnknownTopLevelKeyIsRejected) {
  EXPECT_EQ(ParseError(std::string("model = 1\n") + kTiny),
            "test.toml:1: unknown top-level key 'model' (did you mean 'models'?); a catalog "
            "holds only [[models]] entries");
}

// --- Keys and types ---

TEST(CatalogTest, UnknownKeyIsRejectedWithASuggestion) {
  EXPECT_EQ(ParseError(With("sise_bytes", "3")),
            "test.toml:8: model 'tiny': unknown key 'sise_bytes' (did you mean 'size_bytes'?)");
  const std::string message = ParseError(With("colour", "\"red\""));
  EXPECT_TRUE(absl::StartsWith(message,
                               "test.toml:8: model 'tiny': unknown key 'colour' (known keys: id, "
                               "name, repo,"))
      << message;
}

TEST(CatalogTest, MissingRequiredKeysAreNamed) {
  for (const char* key : {"name", "repo", "file", "dir", "size_bytes"}) {
    EXPECT_EQ(ParseError(Without(kTiny, key)),
              std::string("test.toml:1: model 'tiny': missing required key '") + key + "'");
  }
  // Without an id the entry is named by its position.
  EXPECT_EQ(ParseError(std::string(kTiny) + "\n" + Without(kTiny, "id")),
            "test.toml:9: model #2: missing required key 'id'");
}

TEST(CatalogTest, WrongTypesAreRejectedWithTheLine) {
  EXPECT_EQ(ParseError(With("size_bytes", "\"big\"")),
            "test.toml:7: model 'tiny': size_bytes must be an integer, got a string");
  EXPECT_EQ(ParseError(With("size_bytes", "6.4e9")),
            "test.toml:7: model 'tiny': size_bytes must be an integer, got a floating-point "
            "number");
  EXPECT_EQ(ParseError(With("name", "3")),
            "test.toml:3: model 'tiny': name must be a string, got an integer");
  EXPECT_EQ(ParseError(With("verified", "\"yes\"")),
            "test.toml:8: model 'tiny': verified must be a boolean (true or false), got a string");
  EXPECT_EQ(ParseError(With("id", "7")),
            "test.toml:2: model #1: id must be a string, got an "
            "integer");
  EXPECT_EQ(ParseError(std::string(kTiny) + "requires_conversion = true\n" +
                       "converter_script = \"a.py\"\nconverter_args = \"--outtype f32\"\n"),
            "test.toml:10: model 'tiny': converter_args must be an array of strings, got a "
            "string");
  EXPECT_EQ(ParseError(std::string(kTiny) + "requires_conversion = true\n" +
                       "converter_script = \"a.py\"\nconverter_args = [\"--outtype\", 32]\n"),
            "test.toml:10: model 'tiny': converter_args must be an array of strings, element 2 "
            "is an integer");
}

TEST(CatalogTest, ControlCharactersInStringsAreRejected) {
  EXPECT_EQ(ParseError(With("name", "\"Tiny\\u001b[31m\"")),
            "test.toml:3: model 'tiny': name must not contain control characters, got "
            "'Tiny\\x1b[31m'");
}

// --- Values ---

TEST(CatalogTest, IdsMustBeUnique) {
  std::string second = With("file", "\"other.gguf\"");
  EXPECT_EQ(ParseError(std::string(kTiny) + "\n" + second),
            "test.toml:10: model 'tiny': duplicate id (first defined at line 1)");
}

TEST(CatalogTest, IdsMustBeShortLowercaseWords) {
  for (const char* id : {"Tiny", "-x", "a b", "", "a/b", "a_b", "qwen.fp16"}) {
    EXPECT_EQ(ParseError(With("id", std::string("\"") + id + "\"")),
              std::string("test.toml:2: model '") + id +
                  "': id must match [a-z0-9][a-z0-9-]* (at most 64 characters), got '" + id + "'");
  }
  const std::string longest(64, 'a');
  EXPECT_TRUE(Catalog::Parse(With("id", "\"" + longest + "\""), "t").ok());
  EXPECT_CONTAINS(ParseError(With("id", "\"" + longest + "a\"")), "at most 64 characters");
  EXPECT_TRUE(Catalog::Parse(With("id", "\"0-qwen-fp16\""), "t").ok());
}

TEST(CatalogTest, RepoMustBeOwnerSlashName) {
  for (const char* repo : {"tiny", "a/b/c", "../x", "a/..", "a/x..y", "-a/b", "a/b c", "/a", "a/",
                           "a/.b", "a\\\\b/c"}) {
    const std::string message = ParseError(With("repo", std::string("\"") + repo + "\""));
    EXPECT_TRUE(absl::StartsWith(message, "test.toml:4: model 'tiny': repo must be 'owner/name'"))
        << repo << ": " << message;
  }
  EXPECT_EQ(ParseError(With("repo", "\"a/b/c\"")),
            "test.toml:4: model 'tiny': repo must be 'owner/name' (letters, digits, '.', '_', "
            "'-'; no '..'), got 'a/b/c'");
  EXPECT_TRUE(Catalog::Parse(With("repo", "\"Qwen/Qwen2.5-0.5B-Instruct-GGUF\""), "t").ok());
  EXPECT_TRUE(Catalog::Parse(With("repo", "\"ibm-granite/granite-4.0-micro\""), "t").ok());
}

TEST(CatalogTest, FileCannotEscapeTheModelsDir) {
  EXPECT_EQ(ParseError(With("file", "\"../x.gguf\"")),
            "test.toml:5: model 'tiny': file must be a plain file name, got '../x.gguf'");
  for (const char* file : {"a/x.gguf", "/etc/x.gguf", ".hidden.gguf", ".gguf", "a\\\\x.gguf", "..",
                           ".", "", "-x.gguf", "x\\u0000.gguf"}) {
    const std::string message = ParseError(With("file", std::string("\"") + file + "\""));
    EXPECT_TRUE(
        absl::StartsWith(message,
                         "test.toml:5: model 'tiny': file must be a plain file name, got '") ||
        absl::StartsWith(message, "test.toml:5: model 'tiny': file must not contain control"))
        << file << ": " << message;
  }
  EXPECT_EQ(ParseError(With("file", "\"x.bin\"")),
            "test.toml:5: model 'tiny': file must end in .gguf, got 'x.bin'");
  EXPECT_EQ(ParseError(With("file", "\"" + std::string(252, 'a') + ".gguf\"")).substr(0, 48),
            "test.toml:5: model 'tiny': file must be a plain ");
}

TEST(CatalogTest, DirCannotEscapeTheModelsDir) {
  for (const char* dir : {"..", ".", "a/b", "/tmp", ".llorch", "", "a\\\\b", "-rf"}) {
    const std::string message = ParseError(With("dir", std::string("\"") + dir + "\""));
    EXPECT_TRUE(
        absl::StartsWith(message, "test.toml:6: model 'tiny': dir must be a plain directory name"))
        << dir << ": " << message;
  }
  EXPECT_EQ(ParseError(With("dir", "\"..\"")),
            "test.toml:6: model 'tiny': dir must be a plain directory name, got '..'");
  EXPECT_TRUE(Catalog::Parse(With("dir", "\"llama2-7b\""), "t").ok());
}

TEST(CatalogTest, ModelsMayShareADirButNotAFile) {
  const std::string second = With("id", "\"tiny2\"");  // same dir and file, line 9 on
  EXPECT_EQ(ParseError(std::string(kTiny) + "\n" + second),
            "test.toml:13: model 'tiny2': dir and file 'tiny/tiny.gguf' are already used by "
            "model 'tiny' (line 1)");
  EXPECT_TRUE(
      Catalog::Parse(std::string(kTiny) + "\n" + With(second, "file", "\"tiny-f16.gguf\""), "t")
          .ok());
  // The same file name in another dir is fine too.
  EXPECT_TRUE(
      Catalog::Parse(std::string(kTiny) + "\n" + With(second, "dir", "\"other\""), "t").ok());
}

TEST(CatalogTest, FormerFilesArePlainGgufNamesNoOtherEntryUses) {
  absl::StatusOr<Catalog> catalog =
      Catalog::Parse(With("former_files", R"(["TINY.gguf", "tiny-old.gguf"])"), "t");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(catalog->models()[0].former_files,
            (std::vector<std::string>{"TINY.gguf", "tiny-old.gguf"}));
  for (const char* bad : {R"(["../x.gguf"])", R"(["tiny.bin"])", R"(["tiny.gguf"])"}) {
    EXPECT_CONTAINS(ParseError(With("former_files", bad)),
                    "test.toml:8: model 'tiny': former_files entries must be plain file names "
                    "ending in .gguf, other than file");
  }
  // Another entry's file in the same dir cannot be this one's former name.
  const std::string second =
      With(With("id", "\"tiny2\""), "file", "\"tiny2.gguf\"");  // from line 10
  EXPECT_EQ(ParseError(With(kTiny, "former_files", R"(["tiny2.gguf"])") + "\n" + second),
            "test.toml:14: model 'tiny2': dir and file 'tiny/tiny2.gguf' are already used by "
            "model 'tiny' (line 1)");
}

TEST(CatalogTest, SizeMustBePositive) {
  EXPECT_EQ(ParseError(With("size_bytes", "0")),
            "test.toml:7: model 'tiny': size_bytes must be greater than 0, got 0");
  EXPECT_EQ(ParseError(With("size_bytes", "-5")),
            "test.toml:7: model 'tiny': size_bytes must be greater than 0, got -5");
  absl::StatusOr<Catalog> big = Catalog::Parse(With("size_bytes", "14_500_000_000"), "t");
  ASSERT_TRUE(big.ok()) << big.status();
  EXPECT_EQ(big->models()[0].size_bytes, 14'500'000'000u);
}

TEST(CatalogTest, RevisionIsARefOrCommit) {
  for (const char* revision :
       {"main", "v1.0", "refs/pr/1", "0123456789abcdef0123456789abcdef01234567"}) {
    absl::StatusOr<Catalog> catalog =
        Catalog::Parse(With("revision", std::string("\"") + revision + "\""), "t");
    ASSERT_TRUE(catalog.ok()) << revision << ": " << catalog.status();
    EXPECT_EQ(catalog->models()[0].revision, revision);
  }
  for (const char* revision : {"--upload-pack=x", "-x", "a..b", "a b", "", "a//b", "/main", "main/",
                               "a/.b", "a~1", "a:b"}) {
    const std::string message = ParseError(With("revision", std::string("\"") + revision + "\""));
    EXPECT_TRUE(absl::StartsWith(
        message, "test.toml:8: model 'tiny': revision must be a branch, tag or 40-hex commit"))
        << revision << ": " << message;
  }
  EXPECT_EQ(ParseError(With("revision", "\"a b\"")),
            "test.toml:8: model 'tiny': revision must be a branch, tag or 40-hex commit (no "
            "spaces, no '..', no leading '-'), got 'a b'");
}

// --- Conversion ---

TEST(CatalogTest, ConversionIsReadCompletely) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(std::string(kTiny) + kConversion, "test.toml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const ModelConversion& conversion = *catalog->models()[0].conversion;
  EXPECT_EQ(conversion.converter, "llama.cpp");
  EXPECT_EQ(conversion.script, "reference/llama.cpp/convert_hf_to_gguf.py");
  EXPECT_EQ(conversion.args, (std::vector<std::string>{"--outtype", "f16"}));
  EXPECT_EQ(conversion.source_patterns, (std::vector<std::string>{"config.json", "*.safetensors"}));
  EXPECT_EQ(conversion.output_type, "f16");
}

TEST(CatalogTest, ConversionDefaults) {
  std::string text =
      Without(Without(std::string(kTiny) + kConversion, "converter"), "source_patterns");
  text = With(text, "converter_args", "[\"--outtype=f32\", \"--verbose\"]");
  absl::StatusOr<Catalog> catalog = Catalog::Parse(text, "test.toml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const ModelConversion& conversion = *catalog->models()[0].conversion;
  EXPECT_EQ(conversion.converter, "llama.cpp");
  EXPECT_EQ(conversion.output_type, "f32");
  const std::vector<std::string>& patterns = conversion.source_patterns;
  EXPECT_NE(std::find(patterns.begin(), patterns.end(), "config.json"), patterns.end());
  EXPECT_NE(std::find(patterns.begin(), patterns.end(), "*.safetensors"), patterns.end());
  // Without --outtype the converter's own default applies and output_type stays empty.
  absl::StatusOr<Catalog> plain =
      Catalog::Parse(With(std::string(kTiny) + kConversion, "converter_args", "[]"), "t");
  ASSERT_TRUE(plain.ok()) << plain.status();
  EXPECT_EQ(plain->models()[0].conversion->output_type, "");
}

TEST(CatalogTest, ConversionNeedsScriptAndArgs) {
  EXPECT_EQ(ParseError(Without(std::string(kTiny) + kConversion, "converter_script")),
            "test.toml:1: model 'tiny': missing required key 'converter_script' (needed with "
            "requires_conversion = true)");
  EXPECT_EQ(ParseError(Without(std::string(kTiny) + kConversion, "converter_args")),
            "test.toml:1: model 'tiny': missing required key 'converter_args' (needed with "
            "requires_conversion = true)");
}

TEST(CatalogTest, ConverterScriptMustStayInsideTheRepository) {
  for (const char* script : {"/usr/bin/x.py", "../x.py", "a/../../x.py", "-x.py", "a//b.py",
                             "./x.py", "a\\\\b.py", ""}) {
    const std::string message = ParseError(With(
        std::string(kTiny) + kConversion, "converter_script", std::string("\"") + script + "\""));
    EXPECT_TRUE(absl::StartsWith(message,
                                 "test.toml:10: model 'tiny': converter_script must be a relative "
                                 "path inside the repository"))
        << script << ": " << message;
  }
  EXPECT_EQ(ParseError(With(std::string(kTiny) + kConversion, "converter_script", "\"../x.py\"")),
            "test.toml:10: model 'tiny': converter_script must be a relative path inside the "
            "repository (no '..', not absolute), got '../x.py'");
}

TEST(CatalogTest, ConverterArgsCannotRedirectTheOutput) {
  const std::string base = std::string(kTiny) + kConversion;
  EXPECT_EQ(ParseError(With(base, "converter_args", "[\"--outfile\", \"/etc/passwd\"]")),
            "test.toml:11: model 'tiny': converter_args must not set --outfile: the output is "
            "always <models_dir>/<dir>/<file>");
  EXPECT_CONTAINS(ParseError(With(base, "converter_args", "[\"--outfile=/x.gguf\"]")),
                  "test.toml:11: model 'tiny': converter_args must not set --outfile");
  EXPECT_EQ(ParseError(With(base, "converter_args", "[\"--outtype\"]")),
            "test.toml:11: model 'tiny': converter_args: --outtype needs a value, e.g. \"f32\"");
  EXPECT_CONTAINS(ParseError(With(base, "converter_args", "[\"--outtype\", \"F 32\"]")),
                  "test.toml:11: model 'tiny': converter_args: --outtype must be a type");
  EXPECT_CONTAINS(ParseError(With(base, "converter_args", "[\"\"]")),
                  "test.toml:11: model 'tiny': converter_args must not hold empty strings");
}

TEST(CatalogTest, SourcePatternsArePlainGlobs) {
  const std::string base = std::string(kTiny) + kConversion;
  for (const char* pattern : {"../secret", "sub/*.json", "-rf", "..", "", "a\\\\b"}) {
    const std::string message =
        ParseError(With(base, "source_patterns", std::string("[\"") + pattern + "\"]"));
    EXPECT_TRUE(absl::StartsWith(message,
                                 "test.toml:12: model 'tiny': source_patterns entries must be "
                                 "plain file globs"))
        << pattern << ": " << message;
  }
  EXPECT_EQ(ParseError(With(base, "source_patterns", "[]")),
            "test.toml:12: model 'tiny': source_patterns must not be empty (leave it out for the "
            "default list)");
}

TEST(CatalogTest, ConverterMustBeAPlainName) {
  EXPECT_EQ(ParseError(With(std::string(kTiny) + kConversion, "converter", "\"../bin/sh\"")),
            "test.toml:9: model 'tiny': converter must be a plain name such as 'llama.cpp', got "
            "'../bin/sh'");
}

TEST(CatalogTest, ConversionKeysNeedRequiresConversion) {
  EXPECT_EQ(ParseError(With("converter_script", "\"a.py\"")),
            "test.toml:8: model 'tiny': converter_script is only allowed with requires_conversion "
            "= true");
  EXPECT_EQ(ParseError(With(std::string(kTiny) + kConversion, "requires_conversion", "false")),
            "test.toml:9: model 'tiny': converter is only allowed with requires_conversion = true");
  // requires_conversion = false alone is fine (the spec's example writes it).
  EXPECT_TRUE(Catalog::Parse(With("requires_conversion", "false"), "t").ok());
}

TEST(CatalogTest, ConvertedModelsCannotShareADir) {
  const std::string first = std::string(kTiny) + kConversion;
  const std::string second = With(With(first, "id", "\"tiny2\""), "file", "\"b.gguf\"");
  EXPECT_EQ(ParseError(first + "\n" + second),
            "test.toml:19: model 'tiny2': dir 'tiny' is already used by model 'tiny' (line 1), "
            "which is also converted: their source files in tiny/source/ would mix");
  // A converted model next to a downloaded one is fine.
  EXPECT_TRUE(
      Catalog::Parse(first + "\n" + With(With("id", "\"tiny2\""), "file", "\"b.gguf\""), "t").ok());
}

// --- Lookup and loading ---

TEST(CatalogTest, LookupFindsOrSuggests) {
  absl::StatusOr<Catalog> catalog =
      Catalog::LoadFile(std::string(LLORCH_SOURCE_DIR) + "/catalog.toml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  absl::StatusOr<const CatalogModel*> found = catalog->Lookup("qwen-fp16");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->id, "qwen-fp16");
  EXPECT_EQ(catalog->Find("qwen-fp16"), *found);
  EXPECT_EQ(catalog->Find("nope"), nullptr);

  const char* const kKnown =
      "known models: tinyllama, qwen, qwen-fp16, phi3, llama3, llama32, llama2, mistral, gpt2, "
      "granite; `llorch-pool models catalog` shows them all";
  absl::StatusOr<const CatalogModel*> missing = catalog->Lookup("qwn");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "unknown model 'qwn' (did you mean 'qwen'?)");
  EXPECT_EQ(GetHint(missing.status()), kKnown);
  EXPECT_EQ(GetReason(missing.status()), "MODEL_NOT_FOUND");
  EXPECT_EQ(catalog->Lookup("tinylama").status().message(),
            "unknown model 'tinylama' (did you mean 'tinyllama'?)");
  EXPECT_EQ(catalog->Lookup("zzzzzzzz").status().message(), "unknown model 'zzzzzzzz'");
  EXPECT_EQ(GetHint(Catalog().Lookup("x").status()),
            "known models: (none); `llorch-pool models catalog` shows them all");
}

TEST(CatalogTest, LoadFileReportsMissingAndUnreadableFiles) {
  absl::StatusOr<Catalog> missing = Catalog::LoadFile("/nonexistent/catalog.toml");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "/nonexistent/catalog.toml: the catalog does not exist");
  EXPECT_CONTAINS(GetHint(missing.status()).value_or(""), "--catalog");

  absl::StatusOr<Catalog> directory =
      Catalog::LoadFile(std::filesystem::temp_directory_path().string());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_CONTAINS(directory.status().message(), "the catalog is a directory, not a regular file");
}

TEST(CatalogTest, LoadFileUsesThePathAsSourceName) {
  const std::filesystem::path path = std::filesystem::temp_directory_path() /
                                     ("catalog_test_" + std::to_string(getpid()) + ".toml");
  {
    std::FILE* out = std::fopen(path.c_str(), "w");
    ASSERT_NE(out, nullptr);
    const std::string text = With("file", "\"../x.gguf\"");
    std::fwrite(text.data(), 1, text.size(), out);
    std::fclose(out);
  }
  absl::StatusOr<Catalog> catalog = Catalog::LoadFile(path.string());
  std::filesystem::remove(path);
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().message(),
            path.string() + ":5: model 'tiny': file must be a plain file name, got '../x.gguf'");
}

}  // namespace
}  // namespace llorch
