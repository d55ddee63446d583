#include <gtest/gtest.h>

#include "client/render/errors.h"
#include "client/render/style.h"
#include "client/render/table.h"
#include "client/render/units.h"
#include "common/status.h"
#include "llorch/pool/v1/common.pb.h"

namespace llorch {
namespace {

TEST(FormatBytesTest, UsesDecimalUnitsWithThreeDigits) {
  EXPECT_EQ(FormatBytes(0), "0 B");
  EXPECT_EQ(FormatBytes(999), "999 B");
  EXPECT_EQ(FormatBytes(1500), "1.50 kB");
  EXPECT_EQ(FormatBytes(669000000), "669 MB");
  EXPECT_EQ(FormatBytes(14500000000ULL), "14.5 GB");
  EXPECT_EQ(FormatBytes(999999999), "1.00 GB");
}

TEST(TableTest, PadsColumnsAndTrimsTrailingSpace) {
  Table table({"ID", "SIZE", "NOTE"}, {1});
  table.AddRow({"qwen", "469 MB", ""});
  table.AddRow({"tinyllama", "1 GB", "x"});
  EXPECT_EQ(table.Render(Style(false)),
            "ID           SIZE  NOTE\n"
            "qwen       469 MB\n"
            "tinyllama    1 GB  x\n");
}

TEST(TableTest, ColourDoesNotChangeAlignment) {
  Table table({"A", "B"});
  table.AddRow({Cell("x", Color::kGreen), "y"});
  const std::string out = table.Render(Style(true));
  EXPECT_NE(out.find("\x1b[32mx\x1b[0m  y"), std::string::npos) << out;
}

TEST(StyleTest, NeverAndAlwaysOverrideTheTerminalCheck) {
  EXPECT_FALSE(Style::For(stdout, "never").enabled());
  EXPECT_TRUE(Style::For(stdout, "always").enabled());
  EXPECT_EQ(Style(false).Paint("x", Color::kRed), "x");
}

TEST(ErrorsTest, DecodesHintAndReasonFromTheAgentStatus) {
  pool::v1::ErrorHint hint;
  hint.set_hint("run llorch-pool models catalog");
  hint.set_reason("MODEL_NOT_FOUND");
  pool::v1::RpcStatus details;
  details.set_code(5);
  details.set_message("unknown model 'qwn'");
  details.add_details()->PackFrom(hint);
  ClientError error = FromGrpcStatus(grpc::Status(
      grpc::StatusCode::NOT_FOUND, "unknown model 'qwn'", details.SerializeAsString()));
  EXPECT_EQ(error.message, "unknown model 'qwn'");
  EXPECT_EQ(error.hint, "run llorch-pool models catalog");
  EXPECT_EQ(error.reason, "MODEL_NOT_FOUND");
  EXPECT_EQ(error.exit_code, kExitUsage);
}

TEST(ErrorsTest, TransportUnavailableMeansAgentUnreachable) {
  ClientError error = FromGrpcStatus(grpc::Status(grpc::StatusCode::UNAVAILABLE, "connect failed"));
  EXPECT_EQ(error.exit_code, kExitUnreachable);
  EXPECT_NE(error.message.find("cannot reach the agent"), std::string::npos);
  EXPECT_FALSE(error.hint.empty());
}

TEST(ErrorsTest, ClientSideStatusKeepsItsHint) {
  ClientError error =
      FromStatus(WithHint(absl::InvalidArgumentError("bad --agent"), "use unix:PATH"));
  EXPECT_EQ(error.exit_code, kExitUsage);
  EXPECT_EQ(error.hint, "use unix:PATH");
}

}  // namespace
}  // namespace llorch
