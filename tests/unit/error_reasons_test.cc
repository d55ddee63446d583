// docs/api.md promises orchestrators a table of error reasons; common/error_reasons.h is the list
// the agent attaches. The two are one list: same reasons, same order. Its metadata table names
// every key of common/error_metadata.h, for reasons of that list in its order.
#include <algorithm>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
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

// (constant name, value) of every string constant in `header` whose value matches `value`.
std::vector<std::pair<std::string, std::string>> HeaderConstants(const std::string& header,
                                                                 const std::string& value) {
  const std::string text = ReadSource(header);
  const std::regex constant("inline constexpr char (k\\w+)\\[\\] = \"(" + value + ")\";");
  std::vector<std::pair<std::string, std::string>> constants;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), constant);
       it != std::sregex_iterator(); ++it) {
    constants.emplace_back((*it)[1], (*it)[2]);
  }
  return constants;
}

// (constant name, value) of every reason in the header, in order.
std::vector<std::pair<std::string, std::string>> HeaderReasons() {
  return HeaderConstants("common/error_reasons.h", "[A-Z0-9_]+");
}

// The rows of the table of docs/api.md whose header line is `header`, as (first cell without
// its backquotes, the rest of the line), in order.
std::vector<std::pair<std::string, std::string>> DocumentedRows(absl::string_view header) {
  std::vector<std::pair<std::string, std::string>> rows;
  bool in_table = false;
  for (absl::string_view line : absl::StrSplit(ReadSource("docs/api.md"), '\n')) {
    if (!in_table) {
      in_table = absl::StartsWith(line, header);
      continue;
    }
    if (!absl::StartsWith(line, "|")) break;
    if (absl::StartsWith(line, "|---")) continue;
    std::vector<absl::string_view> cells = absl::StrSplit(line, absl::MaxSplits('|', 2));
    absl::string_view first = absl::StripAsciiWhitespace(cells.at(1));
    absl::ConsumePrefix(&first, "`");
    absl::ConsumeSuffix(&first, "`");
    rows.emplace_back(first, cells.at(2));
  }
  return rows;
}

// The first column of the table under "| reason | code | when |", in order.
std::vector<std::string> DocumentedReasons() {
  std::vector<std::string> reasons;
  for (const auto& [reason, rest] : DocumentedRows("| reason | code | when |")) {
    reasons.push_back(reason);
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

TEST(ErrorReasonsTest, DocsApiSaysWhichReasonsCarryEveryMetadataKey) {
  const auto rows = DocumentedRows("| reason | metadata |");
  ASSERT_FALSE(rows.empty());
  std::vector<std::string> reasons;
  for (const auto& [name, value] : HeaderReasons()) reasons.push_back(value);
  auto next = reasons.begin();
  for (const auto& [reason, keys] : rows) {
    const auto found = std::find(next, reasons.end(), reason);
    EXPECT_NE(found, reasons.end()) << reason << " is no reason, or out of the reasons' order";
    if (found != reasons.end()) next = found + 1;
  }
  const auto metadata = HeaderConstants("common/error_metadata.h", "[a-z0-9_]+");
  ASSERT_FALSE(metadata.empty());
  for (const auto& [name, key] : metadata) {
    const bool documented = std::any_of(rows.begin(), rows.end(), [&](const auto& row) {
      return absl::StrContains(row.second, absl::StrCat("`", key, "`"));
    });
    EXPECT_TRUE(documented) << "docs/api.md names no reason carrying metadata key " << key;
  }
}

TEST(ErrorReasonsTest, EachConstantIsNamedAfterItsReason) {
  for (const auto& [name, value] : HeaderReasons()) EXPECT_EQ(name, ConstantName(value));
}

}  // namespace
}  // namespace llorch
