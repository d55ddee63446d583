// docs/api.md promises orchestrators a table of error reasons; common/error_reasons.h is the list
// the agent attaches. The two are one list: same reasons, same order.
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "gtest/gtest.h"

namespace llorch {
namespace {

std::string ReadSource(const std::string& relative) {
  std::ifstream in(std::string(LLORCH_SOURCE_DIR) + "/" + relative);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// (constant name, value) of every reason in the header, in order.
std::vector<std::pair<std::string, std::string>> HeaderReasons() {
  const std::string header = ReadSource("common/error_reasons.h");
  const std::regex constant(R"re(inline constexpr char (k\w+)\[\] = "([A-Z0-9_]+)";)re");
  std::vector<std::pair<std::string, std::string>> reasons;
  for (auto it = std::sregex_iterator(header.begin(), header.end(), constant);
       it != std::sregex_iterator(); ++it) {
    reasons.emplace_back((*it)[1], (*it)[2]);
  }
  return reasons;
}

// The first column of the table under "| reason | code | when |", in order.
std::vector<std::string> DocumentedReasons() {
  std::vector<std::string> reasons;
  bool in_table = false;
  for (absl::string_view line : absl::StrSplit(ReadSource("docs/api.md"), '\n')) {
    if (!in_table) {
      in_table = absl::StartsWith(line, "| reason | code | when |");
      continue;
    }
    if (!absl::StartsWith(line, "|")) break;
    if (absl::StartsWith(line, "|---")) continue;
    std::vector<absl::string_view> cells = absl::StrSplit(line, '|');
    absl::string_view reason = absl::StripAsciiWhitespace(cells.at(1));
    absl::ConsumePrefix(&reason, "`");
    absl::ConsumeSuffix(&reason, "`");
    reasons.emplace_back(reason);
  }
  return reasons;
}

// "HUB_NO_DIGEST" -> "kHubNoDigest".
std::string ConstantName(absl::string_view reason) {
  std::string name = "k";
  for (absl::string_view word : absl::StrSplit(reason, '_')) {
    name += absl::AsciiStrToUpper(word.substr(0, 1));
    name += absl::AsciiStrToLower(word.substr(1));
  }
  return name;
}

TEST(ErrorReasonsTest, DocsApiListsTheReasonsOfTheHeaderInItsOrder) {
  std::vector<std::string> header;
  for (const auto& [name, value] : HeaderReasons()) header.push_back(value);
  const std::vector<std::string> documented = DocumentedReasons();
  ASSERT_FALSE(header.empty());
  EXPECT_EQ(absl::StrJoin(documented, "\n"), absl::StrJoin(header, "\n"))
      << "docs/api.md's reason table and common/error_reasons.h differ";
}

TEST(ErrorReasonsTest, EachConstantIsNamedAfterItsReason) {
  for (const auto& [name, value] : HeaderReasons()) EXPECT_EQ(name, ConstantName(value));
}

}  // namespace
}  // namespace llorch
