#include "client/render/dev_views.h"

#include "absl/strings/str_cat.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

struct Mark {
  const char* text;
  Color color;
};

Mark MarkOf(v1::CheckStatus status) {
  switch (status) {
    case v1::CHECK_STATUS_OK:
      return {"[✓]", Color::kGreen};
    case v1::CHECK_STATUS_WARN:
      return {"[!]", Color::kYellow};
    case v1::CHECK_STATUS_FAIL:
      return {"[✗]", Color::kRed};
    default:
      return {"[-]", Color::kDim};
  }
}

std::string Count(uint32_t n, const char* one, const char* many) {
  return absl::StrCat(n, " ", n == 1 ? one : many);
}

}  // namespace

std::string RenderDoctor(const v1::RunDoctorResponse& response, const Style& style) {
  std::string out;
  for (const v1::Check& check : response.checks()) {
    const Mark mark = MarkOf(check.status());
    absl::StrAppend(&out, style.Paint(mark.text, mark.color), " ",
                    style.Paint(check.name(), Color::kBold));
    if (!check.required() && check.status() != v1::CHECK_STATUS_OK &&
        check.status() != v1::CHECK_STATUS_SKIPPED) {
      absl::StrAppend(&out, style.Paint(" (optional)", Color::kDim));
    }
    absl::StrAppend(&out, ": ", check.detail(), "\n");
    for (const std::string& line : check.lines()) absl::StrAppend(&out, "    ", line, "\n");
    if (!check.fix().empty()) {
      absl::StrAppend(&out, "    ", style.Paint("fix:", mark.color), " ", check.fix(), "\n");
    }
  }
  const v1::DoctorSummary& summary = response.summary();
  std::string counts = absl::StrCat(
      summary.ok(), " ok, ", Count(summary.warn(), "warning", "warnings"), ", ",
      Count(summary.fail(), "failure", "failures"), ", ", summary.skipped(), " skipped");
  if (!response.ok()) {
    absl::StrAppend(&out, "\n", style.Paint("✗ Required checks failed", Color::kRed), " (", counts,
                    "): fix the [✗] lines above.\n");
  } else if (summary.warn() > 0) {
    absl::StrAppend(&out, "\n", style.Paint("! Ready, with warnings", Color::kYellow), " (", counts,
                    "): [!] lines are worth a look.\n");
  } else {
    absl::StrAppend(&out, "\n", style.Paint("✓ No issues found", Color::kGreen), " (", counts,
                    ").\n");
  }
  return out;
}

}  // namespace llorch
