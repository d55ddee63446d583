// The catalog's lock file: what it accepts, how it says what is wrong (file and line), and that
// the same pins always give the same bytes.
#include "agent/models/catalog_lock.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "tests/support/run_command.h"

namespace llorch {
namespace {

using ::testing::HasSubstr;

constexpr char kCatalog[] = R"([[models]]
id = "tiny"
name = "Tiny"
repo = "owner/Tiny-GGUF"
file = "tiny.gguf"
dir = "tiny"
size_bytes = 100

[[models]]
id = "conv"
name = "Converted"
repo = "owner/conv"
file = "conv-f32.gguf"
dir = "conv"
size_bytes = 100
requires_conversion = true
converter_script = "convert.py"
converter_args = ["--outtype", "f32"]
)";

const std::string kCommit(40, 'a');
const std::string kSha(64, 'b');

Catalog TestCatalog() {
  absl::StatusOr<Catalog> catalog = Catalog::Parse(kCatalog, "catalog.toml");
  EXPECT_TRUE(catalog.ok()) << catalog.status();
  return *catalog;
}

std::string TinyPin(const std::string& extra = "") {
  return "version = 1\n\n[models.tiny]\nrepo = \"owner/Tiny-GGUF\"\nrevision = \"main\"\n"
         "commit = \"" +
         kCommit + "\"\n" + extra + "files = [\n  { name = \"tiny.gguf\", sha256 = \"" + kSha +
         "\", size = 42 },\n]\n";
}

absl::Status ParseError(const std::string& text) {
  return CatalogLock::Parse(text, "catalog.lock.toml", TestCatalog()).status();
}

TEST(CatalogLockTest, ReadsAPin) {
  absl::StatusOr<CatalogLock> lock = CatalogLock::Parse(TinyPin(), "x.lock.toml", TestCatalog());
  ASSERT_TRUE(lock.ok()) << lock.status();
  const ModelPin* pin = lock->Find("tiny");
  ASSERT_NE(pin, nullptr);
  EXPECT_EQ(pin->commit, kCommit);
  ASSERT_EQ(pin->files.size(), 1u);
  EXPECT_EQ(pin->files[0].sha256, kSha);
  EXPECT_EQ(pin->files[0].size, 42u);
  EXPECT_EQ(pin->line, 3);
  EXPECT_EQ(lock->Find("conv"), nullptr);
  EXPECT_EQ(PinMismatch(*pin, *TestCatalog().Find("tiny")), "");
}

TEST(CatalogLockTest, SamePinsGiveTheSameBytesWhateverTheOrder) {
  const Catalog catalog = TestCatalog();
  ModelPin tiny{"owner/Tiny-GGUF", "main", kCommit, {{"tiny.gguf", kSha, 42}}};
  ModelPin conv{"owner/conv", "main", std::string(40, 'c'), {}};
  CatalogLock one;
  one.Set("tiny", tiny);
  one.Set("conv", conv);
  CatalogLock two;
  two.Set("conv", conv);
  two.Set("tiny", tiny);
  EXPECT_EQ(one.Serialize(), two.Serialize());
  // conv before tiny, a file a line, no timestamps; and it reads back as written.
  const std::string text = one.Serialize();
  EXPECT_LT(text.find("[models.conv]"), text.find("[models.tiny]"));
  EXPECT_THAT(text, HasSubstr("files = [\n  { name = \"tiny.gguf\", sha256 = \"" + kSha +
                              "\", size = 42 },\n]\n"));
  absl::StatusOr<CatalogLock> read = CatalogLock::Parse(text, "x.lock.toml", catalog);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->Serialize(), text);
}

TEST(CatalogLockTest, ErrorsNameTheFileAndLine) {
  EXPECT_THAT(ParseError("version = 1\n[models.tiny\n").message(),
              HasSubstr("catalog.lock.toml:2:"));
  EXPECT_EQ(ParseError("version = 2\n").message(),
            "catalog.lock.toml:1: version must be 1 (a newer llorch-pool may have written this "
            "file)");
  EXPECT_EQ(ParseError(TinyPin("comit = \"x\"\n")).message(),
            "catalog.lock.toml:7: model 'tiny': unknown key 'comit' in a pin (did you mean "
            "'commit'?)");
  std::string short_commit = TinyPin();
  short_commit.replace(short_commit.find(kCommit), 40, "abc");
  EXPECT_EQ(ParseError(short_commit).message(),
            "catalog.lock.toml:6: model 'tiny': commit must be 40 lower-case hex digits, got "
            "'abc'");
  std::string bad_sha = TinyPin();
  bad_sha.replace(bad_sha.find(kSha), 64, std::string(64, 'G'));
  EXPECT_THAT(ParseError(bad_sha).message(),
              HasSubstr("catalog.lock.toml:8: model 'tiny': sha256 of 'tiny.gguf' must be 64 "
                        "lower-case hex digits"));
  std::string bad_size = TinyPin();
  bad_size.replace(bad_size.find("size = 42"), 9, "size = -1");
  EXPECT_THAT(ParseError(bad_size).message(),
              HasSubstr(":8: model 'tiny': size of 'tiny.gguf' must be an integer greater than 0"));
  std::string unknown = TinyPin();
  unknown.replace(unknown.find("[models.tiny]"), 13, "[models.tinny]");
  EXPECT_EQ(ParseError(unknown).message(),
            "catalog.lock.toml:3: model 'tinny' is not in the catalog (catalog.toml) (did you "
            "mean 'tiny'?); remove its [models.tinny] table");
  EXPECT_EQ(ParseError("models = 1\n").message(),
            "catalog.lock.toml:1: missing 'version = 1' (is this a lock file written by "
            "llorch-pool?)");
}

TEST(CatalogLockTest, APinThatNoLongerFitsItsEntryLoadsButIsStale) {
  std::string other_file = TinyPin();
  other_file.replace(other_file.find("name = \"tiny.gguf\""), 18, "name = \"old.gguf\"");
  absl::StatusOr<CatalogLock> lock = CatalogLock::Parse(other_file, "x.lock.toml", TestCatalog());
  ASSERT_TRUE(lock.ok()) << lock.status();
  EXPECT_EQ(PinMismatch(*lock->Find("tiny"), *TestCatalog().Find("tiny")),
            "the lock pins old.gguf, the catalog's file is tiny.gguf");
  ModelPin pin = *lock->Find("tiny");
  pin.revision = "v2";
  EXPECT_EQ(PinMismatch(pin, *TestCatalog().Find("tiny")),
            "the lock pins revision v2, the catalog says main");
}

TEST(CatalogLockTest, LivesBesideItsCatalog) {
  EXPECT_EQ(LockPathFor("/etc/llorch/catalog.toml"), "/etc/llorch/catalog.lock.toml");
  EXPECT_EQ(LockPathFor("fleet"), "fleet.lock.toml");
  EXPECT_EQ(ConfiguredLockPath("/a/c.toml", ""), "/a/c.lock.toml");
  EXPECT_EQ(ConfiguredLockPath("/a/c.toml", "/b/pins.toml"), "/b/pins.toml");
  EXPECT_EQ(ConfiguredLockPath("", ""), "");  // the built-in catalog: none unless configured
}

TEST(CatalogLockTest, AMissingFileIsAnEmptyLockAndStoreWritesIt) {
  testing::TempDir temp;
  const std::string path = temp.path() + "/catalog.lock.toml";
  absl::StatusOr<std::shared_ptr<LockFile>> file = LockFile::Load(path, TestCatalog());
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE((*file)->Get().pins().empty());
  CatalogLock lock;
  lock.Set("tiny", {"owner/Tiny-GGUF", "main", kCommit, {{"tiny.gguf", kSha, 42}}});
  ASSERT_TRUE((*file)->Store(lock).ok());
  EXPECT_EQ(testing::ReadFileBytes(path), lock.Serialize());
  EXPECT_EQ((*file)->Find("tiny")->commit, kCommit);
}

}  // namespace
}  // namespace llorch
