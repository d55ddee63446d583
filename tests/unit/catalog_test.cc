#include "agent/models/catalog.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "agent/models/builtin_catalog.h"
#include "common/status.h"

namespace llorch {
namespace {

using ::testing::HasSubstr;

// A valid entry to start from; tests append or replace keys.
constexpr char kTiny[] = R"([[models]]
id = "tiny"
name = "Tiny"
repo = "owner/tiny-GGUF"
file = "tiny.gguf"
dir = "tiny"
size_bytes = 1000
)";

std::string ParseError(const std::string& text) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(text, "test.toml");
  EXPECT_FALSE(catalog.ok()) << text;
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(catalog.status().message());
}

// kTiny with `key = value` replacing the line of `key` (or appended).
std::string With(const std::string& key, const std::string& value) {
  std::string text = kTiny;
  size_t at = text.find("\n" + key + " = ");
  if (at != std::string::npos) {
    size_t end = text.find('\n', at + 1);
    text.replace(at + 1, end - at - 1, key + " = " + value);
  } else {
    text += key + " = " + value + "\n";
  }
  return text;
}

TEST(BuiltInCatalogTest, HasTheTenSpecModelsInOrder) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(BuiltInCatalogText(), kBuiltInCatalogName);
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  std::vector<std::string> ids;
  for (const CatalogModel& model : catalog->models()) ids.push_back(model.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"tinyllama", "qwen", "qwen-fp16", "phi3", "llama3",
                                           "llama32", "llama2", "mistral", "gpt2", "granite"}));
}

TEST(BuiltInCatalogTest, CarriesTheKnownFactsAndDoubts) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(BuiltInCatalogText(), kBuiltInCatalogName);
  ASSERT_TRUE(catalog.ok());
  EXPECT_EQ(catalog->Find("qwen")->dir, catalog->Find("qwen-fp16")->dir);
  EXPECT_NE(catalog->Find("qwen")->file, catalog->Find("qwen-fp16")->file);
  EXPECT_EQ(catalog->Find("llama2")->dir, "llama2-7b");
  EXPECT_EQ(catalog->Find("tinyllama")->repo, "TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF");
  EXPECT_FALSE(catalog->Find("mistral")->verified);
  EXPECT_THAT(catalog->Find("mistral")->note, HasSubstr("f16"));
  EXPECT_FALSE(catalog->Find("granite")->verified);
  EXPECT_THAT(catalog->Find("llama32")->name, HasSubstr("Komodo"));
  for (const char* id : {"gpt2", "granite"}) {
    const CatalogModel* model = catalog->Find(id);
    ASSERT_TRUE(model->conversion.has_value()) << id;
    EXPECT_EQ(model->conversion->script, "reference/llama.cpp/convert_hf_to_gguf.py");
    EXPECT_EQ(model->conversion->output_type, "f32");
    EXPECT_THAT(model->conversion->source_patterns, ::testing::Contains("*.safetensors"));
  }
  EXPECT_FALSE(catalog->Find("tinyllama")->conversion.has_value());
  // Sizes must hold f32 of a ~3B model (12-16 GB), not the bash scripts' 8 GB.
  EXPECT_GE(catalog->Find("granite")->size_bytes, 12'000'000'000u);
}

TEST(BuiltInCatalogTest, SourceFileMatchesTheEmbeddedCopy) {
  absl::StatusOr<Catalog> from_file =
      Catalog::LoadFile(std::string(LLORCH_SOURCE_DIR) + "/catalog.toml");
  ASSERT_TRUE(from_file.ok()) << from_file.status();
  EXPECT_EQ(from_file->models().size(), 10u);
}

TEST(CatalogTest, ParsesAMinimalEntryWithDefaults) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(kTiny, "test.toml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  const CatalogModel& model = catalog->models()[0];
  EXPECT_EQ(model.revision, "main");
  EXPECT_FALSE(model.verified);
  EXPECT_EQ(model.line, 1);  // the [[models]] header
  EXPECT_EQ(model.HubUrl(), "https://huggingface.co/owner/tiny-GGUF");
}

TEST(CatalogTest, LookupSuggestsTheClosestIdWithAHint) {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(BuiltInCatalogText(), kBuiltInCatalogName);
  ASSERT_TRUE(catalog.ok());
  absl::StatusOr<const CatalogModel*> found = catalog->Lookup("qwen-fp16");
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->id, "qwen-fp16");
  absl::StatusOr<const CatalogModel*> missing = catalog->Lookup("tinylama");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "unknown model 'tinylama' (did you mean 'tinyllama'?)");
  EXPECT_THAT(GetHint(missing.status()).value_or(""), HasSubstr("known models: tinyllama, qwen"));
  EXPECT_EQ(GetReason(missing.status()).value_or(""), "MODEL_NOT_FOUND");
  EXPECT_EQ(catalog->Lookup("zzzzzzzz").status().message(), "unknown model 'zzzzzzzz'");
}

TEST(CatalogTest, SyntaxErrorNamesLineAndColumn) {
  EXPECT_THAT(ParseError("[[models]]\nid = \"x\nname = 1\n"), HasSubstr("test.toml:2:"));
  EXPECT_THAT(ParseError("[[models]]\nid = \"x\nname = 1\n"), HasSubstr("TOML syntax error"));
}

TEST(CatalogTest, EmptyCatalogIsAnError) {
  EXPECT_THAT(ParseError(""), HasSubstr("no [[models]] entries"));
  EXPECT_THAT(ParseError("title = \"x\"\n"),
              HasSubstr("test.toml:1: unknown top-level key 'title'"));
}

TEST(CatalogTest, UnknownKeyIsNamedWithItsLineAndASuggestion) {
  EXPECT_EQ(ParseError(std::string(kTiny) + "sise_bytes = 3\n"),
            "test.toml:8: model 'tiny': unknown key 'sise_bytes' (did you mean 'size_bytes'?)");
}

TEST(CatalogTest, MissingRequiredKeysAreNamed) {
  for (const char* key : {"name", "repo", "file", "dir", "size_bytes"}) {
    std::string text = kTiny;
    size_t at = text.find(std::string("\n") + key + " = ");
    text.erase(at + 1, text.find('\n', at + 1) - at);
    EXPECT_THAT(ParseError(text), HasSubstr(std::string("missing required key '") + key + "'"));
  }
}

TEST(CatalogTest, WrongTypesNameTheLine) {
  EXPECT_EQ(ParseError(With("size_bytes", "\"big\"")),
            "test.toml:7: model 'tiny': size_bytes must be an integer");
  EXPECT_THAT(ParseError(With("verified", "\"yes\"")), HasSubstr("verified must be true or false"));
  EXPECT_THAT(ParseError(With("name", "3")),
              HasSubstr("test.toml:3: model 'tiny': name must be a string"));
  EXPECT_THAT(ParseError(With("size_bytes", "0")), HasSubstr("size_bytes must be greater than 0"));
}

TEST(CatalogTest, DuplicateIdsAreRejected) {
  EXPECT_THAT(ParseError(std::string(kTiny) + With("file", "\"other.gguf\"")),
              HasSubstr("test.toml:9: model 'tiny': duplicate id"));
}

TEST(CatalogTest, TwoModelsMayShareADirButNotAFile) {
  std::string second = With("id", "\"tiny2\"");
  EXPECT_THAT(ParseError(std::string(kTiny) + second),
              HasSubstr("another model already uses tiny/tiny.gguf"));
  absl::StatusOr<Catalog> shared = Catalog::Parse(
      std::string(kTiny) +
          With("id", "\"tiny2\"")
              .replace(std::string(With("id", "\"tiny2\"")).find("tiny.gguf"), 9, "tiny2.gguf"),
      "test.toml");
  EXPECT_TRUE(shared.ok()) << shared.status();
}

TEST(CatalogTest, IdsMustBeLowercaseWords) {
  for (const char* id : {"\"Tiny\"", "\"-x\"", "\"a b\"", "\"\"", "\"a/b\""}) {
    EXPECT_THAT(ParseError(With("id", id)), HasSubstr("id must match [a-z0-9][a-z0-9-]*")) << id;
  }
}

TEST(CatalogTest, ReposMustBeOwnerSlashName) {
  for (const char* repo :
       {"\"tiny\"", "\"a/b/c\"", "\"../x\"", "\"a/..\"", "\"-a/b\"", "\"a/b c\""}) {
    EXPECT_THAT(ParseError(With("repo", repo)), HasSubstr("repo must be 'owner/name'")) << repo;
  }
}

TEST(CatalogTest, FileAndDirCannotEscapeTheModelsDir) {
  for (const char* file : {"\"../x.gguf\"", "\"a/x.gguf\"", "\".hidden.gguf\"", "\"a\\\\x.gguf\"",
                           "\"/etc/x.gguf\"", "\"..\""}) {
    EXPECT_THAT(ParseError(With("file", file)), HasSubstr("file must be a plain file name"))
        << file;
  }
  EXPECT_THAT(ParseError(With("file", "\"x.bin\"")), HasSubstr("file must end in .gguf"));
  for (const char* dir : {"\"..\"", "\".\"", "\"a/b\"", "\"/tmp\"", "\".llorch\""}) {
    EXPECT_THAT(ParseError(With("dir", dir)), HasSubstr("dir must be a plain directory name"))
        << dir;
  }
}

TEST(CatalogTest, RevisionMustBeARefOrCommit) {
  EXPECT_TRUE(
      Catalog::Parse(With("revision", "\"0123456789abcdef0123456789abcdef01234567\""), "t").ok());
  for (const char* revision : {"\"--upload-pack=x\"", "\"a..b\"", "\"a b\""}) {
    EXPECT_THAT(ParseError(With("revision", revision)), HasSubstr("revision must be")) << revision;
  }
}

TEST(CatalogTest, ConversionNeedsScriptAndArgs) {
  std::string converted = std::string(kTiny) +
                          "requires_conversion = true\nconverter = \"llama.cpp\"\n"
                          "converter_script = \"reference/llama.cpp/convert_hf_to_gguf.py\"\n"
                          "converter_args = [\"--outtype\", \"f16\"]\n"
                          "source_patterns = [\"config.json\", \"*.safetensors\"]\n";
  absl::StatusOr<Catalog> catalog = Catalog::Parse(converted, "test.toml");
  ASSERT_TRUE(catalog.ok()) << catalog.status();
  EXPECT_EQ(catalog->models()[0].conversion->output_type, "f16");

  EXPECT_THAT(ParseError(std::string(kTiny) + "requires_conversion = true\nconverter = \"x\"\n"
                                              "converter_args = []\n"),
              HasSubstr("missing required key 'converter_script'"));
  EXPECT_THAT(ParseError(std::string(kTiny) + "requires_conversion = true\nconverter = \"x\"\n"
                                              "converter_script = \"a.py\"\n"),
              HasSubstr("missing required key 'converter_args'"));
  for (const char* script : {"\"/usr/bin/x.py\"", "\"../x.py\"", "\"a/../../x.py\"", "\"-x.py\""}) {
    EXPECT_THAT(ParseError(std::string(kTiny) +
                           "requires_conversion = true\nconverter = \"x\"\n"
                           "converter_args = []\nconverter_script = " +
                           script + "\n"),
                HasSubstr("converter_script must be a relative path inside the repository"))
        << script;
  }
  EXPECT_THAT(ParseError(std::string(kTiny) + "requires_conversion = true\nconverter = \"x\"\n"
                                              "converter_args = []\nconverter_script = \"a.py\"\n"
                                              "source_patterns = [\"../secret\"]\n"),
              HasSubstr("source_patterns entries must be plain file globs"));
}

TEST(CatalogTest, ConversionKeysWithoutConversionAreAnError) {
  EXPECT_THAT(ParseError(With("converter_script", "\"a.py\"")),
              HasSubstr("test.toml:8: model 'tiny': converter_script is only allowed with "
                        "requires_conversion = true"));
}

TEST(CatalogTest, MissingFileIsNotFoundWithAHint) {
  absl::StatusOr<Catalog> catalog = Catalog::LoadFile("/nonexistent/catalog.toml");
  ASSERT_FALSE(catalog.ok());
  EXPECT_EQ(catalog.status().code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(GetHint(catalog.status()).has_value());
}

}  // namespace
}  // namespace llorch
