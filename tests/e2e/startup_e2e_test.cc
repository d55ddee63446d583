// What llorch-pool's start-up loads (issue 14 point 10), checked structurally rather than timed:
// every shared library the dynamic loader maps costs each command its loading and relocation
// (bench/README.md has the numbers), so those that only downloads or the agent's listeners use
// must stay out of the installed binary's DT_NEEDED list, and out of a `models catalog` run.
#include <elf.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_split.h"
#include "tests/e2e/e2e_env.h"

namespace llorch::testing {
namespace {

using ::testing::HasSubstr;

// Libraries llorch-pool must not load at start, and why each is not needed then.
struct Unwanted {
  const char* prefix;
  const char* why;
};
constexpr Unwanted kUnwanted[] = {
    {"libcurl", "downloads load it on first use (agent/models/hub/curl_library.h)"},
    {"libcpp-httplib",
     "the ready listener and health probe speak HTTP on plain sockets "
     "(agent/workers/loopback_http.h)"},
    {"libbrotli", "it came with libcpp-httplib"},
    {"libspdlog", "spdlog is compiled in from its headers (spdlog::spdlog_header_only)"},
    {"libfmt", "fmt is compiled in from its headers (fmt::fmt-header-only)"},
};

// The DT_NEEDED entries of a 64-bit ELF file, read from its section headers.
std::vector<std::string> NeededLibraries(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream bytes;
  bytes << file.rdbuf();
  const std::string elf = bytes.str();
  if (elf.size() < sizeof(Elf64_Ehdr) || elf.compare(0, SELFMAG, ELFMAG) != 0 ||
      elf[EI_CLASS] != ELFCLASS64) {
    ADD_FAILURE() << path << " is not a 64-bit ELF file";
    return {};
  }
  const auto* header = reinterpret_cast<const Elf64_Ehdr*>(elf.data());
  const auto* sections = reinterpret_cast<const Elf64_Shdr*>(elf.data() + header->e_shoff);
  std::vector<std::string> needed;
  for (int i = 0; i < header->e_shnum; ++i) {
    if (sections[i].sh_type != SHT_DYNAMIC) continue;
    const char* strings = elf.data() + sections[sections[i].sh_link].sh_offset;
    const auto* entries = reinterpret_cast<const Elf64_Dyn*>(elf.data() + sections[i].sh_offset);
    for (size_t j = 0; j < sections[i].sh_size / sizeof(Elf64_Dyn); ++j) {
      if (entries[j].d_tag == DT_NEEDED) needed.emplace_back(strings + entries[j].d_un.d_val);
    }
  }
  return needed;
}

TEST(StartupE2eTest, TheCliLinksNoLibraryItDoesNotNeedToStart) {
  const std::vector<std::string> needed = NeededLibraries(InstalledBinary("llorch-pool"));
  ASSERT_THAT(needed, ::testing::Contains(HasSubstr("libc.so")));  // the reader works
  for (const std::string& library : needed) {
    for (const Unwanted& unwanted : kUnwanted) {
      EXPECT_NE(library.rfind(unwanted.prefix, 0), 0u)
          << "llorch-pool links " << library
          << ", which every command then loads at start: " << unwanted.why
          << ". Keep it out of the CLI's link graph.";
    }
  }
}

// The objects the dynamic loader maps in a run with LD_DEBUG=files (also any loaded with dlopen).
std::set<std::string> LoadedLibraries(const std::string& ld_debug_output) {
  std::set<std::string> loaded;
  for (absl::string_view line : absl::StrSplit(ld_debug_output, '\n')) {
    const size_t at = line.find("file=");
    if (at == absl::string_view::npos) continue;
    absl::string_view name = line.substr(at + 5);
    loaded.emplace(name.substr(0, name.find(' ')));
  }
  return loaded;
}

TEST(StartupE2eTest, ModelsCatalogLoadsNoHttpLibrary) {
  E2eEnvironment env;
  env.env()["LD_DEBUG"] = "files";
  CommandResult result = env.Run({"models", "catalog"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  const std::set<std::string> loaded = LoadedLibraries(result.err);
  ASSERT_THAT(loaded, ::testing::Contains(HasSubstr("libc.so")));  // LD_DEBUG took effect
  for (const std::string& library : loaded) {
    for (const Unwanted& unwanted : kUnwanted) {
      EXPECT_NE(library.rfind(unwanted.prefix, 0), 0u)
          << "`llorch-pool models catalog` loaded " << library << ": " << unwanted.why;
    }
  }
}

}  // namespace
}  // namespace llorch::testing
