#include "client/render/dev_views.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/render/table.h"
#include "common/units.h"

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

const char* LayerName(v1::ConfigLayer layer) {
  switch (layer) {
    case v1::CONFIG_LAYER_SYSTEM_FILE:
      return "system file";
    case v1::CONFIG_LAYER_USER_FILE:
      return "user file";
    case v1::CONFIG_LAYER_CONFIG_FILE:
      return "--config file";
    default:
      return "file";
  }
}

// "FILE:LINE:COLUMN: error: MESSAGE (fix: FIX)", leaving out what is 0 or empty.
std::string FindingLine(const v1::ConfigProblem& problem, const Style& style) {
  std::string where = problem.path();
  if (problem.line() > 0) {
    absl::StrAppend(&where, ":", problem.line());
    if (problem.column() > 0) absl::StrAppend(&where, ":", problem.column());
  }
  const bool error = problem.severity() == v1::CONFIG_SEVERITY_ERROR;
  std::string out = absl::StrCat(
      style.Paint(where, Color::kBold), ": ",
      error ? style.Paint("error:", Color::kRed) : style.Paint("warning:", Color::kYellow), " ",
      problem.message());
  if (!problem.fix().empty()) absl::StrAppend(&out, " (fix: ", problem.fix(), ")");
  return out + "\n";
}

// Errors and warnings among `problems`.
std::pair<uint32_t, uint32_t> Counts(
    const google::protobuf::RepeatedPtrField<v1::ConfigProblem>& problems) {
  uint32_t errors = 0;
  uint32_t warnings = 0;
  for (const v1::ConfigProblem& problem : problems) {
    (problem.severity() == v1::CONFIG_SEVERITY_ERROR ? errors : warnings) += 1;
  }
  return {errors, warnings};
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
  std::string counts =
      absl::StrCat(summary.ok(), " ok, ", Plural(summary.warn(), "warning"), ", ",
                   Plural(summary.fail(), "failure"), ", ", summary.skipped(), " skipped");
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

std::string RenderCheckConfig(const v1::CheckConfigResponse& response, const Style& style) {
  std::string out = style.Paint("Files", Color::kBold) + " (lowest layer first):\n";
  if (response.files().empty()) absl::StrAppend(&out, "  none (no HOME or XDG_CONFIG_HOME)\n");
  for (const v1::ConfigFile& file : response.files()) {
    const auto [errors, warnings] = Counts(file.problems());
    const Mark mark = MarkOf(errors > 0     ? v1::CHECK_STATUS_FAIL
                             : warnings > 0 ? v1::CHECK_STATUS_WARN
                                            : v1::CHECK_STATUS_OK);
    std::string state = !file.exists() ? std::string(errors > 0 ? "missing" : "not present")
                        : errors + warnings == 0 ? std::string("ok")
                                                 : absl::StrCat(Plural(errors, "error"), ", ",
                                                                Plural(warnings, "warning"));
    absl::StrAppend(&out, "  ", style.Paint(mark.text, mark.color), " ", file.path(), " (",
                    LayerName(file.layer()), "): ", state, "\n");
  }

  if (response.errors() + response.warnings() > 0) {
    absl::StrAppend(&out, "\n", style.Paint("Findings", Color::kBold), ":\n");
    for (const v1::ConfigFile& file : response.files()) {
      for (const v1::ConfigProblem& problem : file.problems()) {
        absl::StrAppend(&out, FindingLine(problem, style));
      }
    }
    for (const v1::ConfigProblem& problem : response.problems()) {
      absl::StrAppend(&out, FindingLine(problem, style));
    }
  }

  absl::StrAppend(&out, "\n", style.Paint("Effective values", Color::kBold), ":\n");
  // VALUE last: a worker's argv is long, and the last column is not padded.
  Table table({"KEY", "ORIGIN", "VALUE"});
  for (const v1::ConfigValue& value : response.values()) {
    std::string origin = value.origin();
    if (value.line() > 0) absl::StrAppend(&origin, ":", value.line());
    table.AddRow(
        {value.key(),
         Cell(origin, value.layer() == v1::CONFIG_LAYER_DEFAULT ? Color::kDim : Color::kNone),
         value.value()});
  }
  absl::StrAppend(&out, table.Render(style));

  const std::string counts = absl::StrCat(Plural(response.errors(), "error"), ", ",
                                          Plural(response.warnings(), "warning"));
  if (!response.ok()) {
    absl::StrAppend(&out, "\n", style.Paint("✗ The configuration has errors", Color::kRed), " (",
                    counts, "): fix the lines marked error above.\n");
  } else if (response.warnings() > 0) {
    absl::StrAppend(&out, "\n",
                    style.Paint("! The configuration is valid, with warnings", Color::kYellow),
                    " (", counts, ").\n");
  } else {
    absl::StrAppend(&out, "\n", style.Paint("✓ The configuration is valid", Color::kGreen), " (",
                    counts, ").\n");
  }
  return out;
}

namespace {

struct SetupMark {
  const char* mark;
  const char* word;
  Color color;
};

SetupMark SetupMarkOf(v1::SetupAction action) {
  switch (action) {
    case v1::SETUP_ACTION_ALREADY_DONE:
      return {"[✓]", "already done", Color::kGreen};
    case v1::SETUP_ACTION_WILL_DO:
      return {"[+]", "will do", Color::kYellow};
    case v1::SETUP_ACTION_DONE:
      return {"[✓]", "done", Color::kGreen};
    case v1::SETUP_ACTION_FAILED:
      return {"[✗]", "failed", Color::kRed};
    default:
      return {"[-]", "skipped", Color::kDim};
  }
}

}  // namespace

std::string RenderSetup(const v1::DevSetupResult& result, const Style& style) {
  std::string out = style.Paint(result.dry_run() ? "Setup plan" : "Setup", Color::kBold) +
                    (result.dry_run() ? " (nothing changed yet):\n" : ":\n");
  uint32_t counts[v1::SetupAction_ARRAYSIZE] = {};
  std::vector<std::string> failed;
  for (const v1::SetupStep& step : result.steps()) {
    const SetupMark mark = SetupMarkOf(step.action());
    ++counts[step.action()];
    if (step.action() == v1::SETUP_ACTION_FAILED) failed.push_back(step.name());
    absl::StrAppend(&out, "  ", style.Paint(mark.mark, mark.color), " ",
                    style.Paint(step.name(), Color::kBold), ": ", mark.word, ": ",
                    step.detail().empty() ? step.error() : step.detail(), "\n");
    if (!step.command().empty()) absl::StrAppend(&out, "      command: ", step.command(), "\n");
    for (const std::string& line : step.lines()) absl::StrAppend(&out, "      ", line, "\n");
    if (!step.error().empty() && !step.detail().empty()) {
      absl::StrAppend(&out, "      ", style.Paint("error:", Color::kRed), " ", step.error(), "\n");
    }
    if (!step.retry().empty()) {
      absl::StrAppend(&out, "      ", style.Paint("retry:", mark.color), " ", step.retry(), "\n");
    }
  }
  const std::string tally =
      absl::StrCat(counts[v1::SETUP_ACTION_DONE], " done, ", counts[v1::SETUP_ACTION_ALREADY_DONE],
                   " already done, ", counts[v1::SETUP_ACTION_SKIPPED], " skipped, ",
                   counts[v1::SETUP_ACTION_FAILED], " failed");
  if (result.dry_run()) {
    absl::StrAppend(&out, "\n", Plural(counts[v1::SETUP_ACTION_WILL_DO], "step"), " to do, ",
                    counts[v1::SETUP_ACTION_ALREADY_DONE], " already done, ",
                    counts[v1::SETUP_ACTION_SKIPPED], " skipped.\n");
  } else if (!result.ok()) {
    absl::StrAppend(&out, "\n", style.Paint("✗ Setup incomplete", Color::kRed), " (", tally,
                    "): ", absl::StrJoin(failed, ", "), " failed; see retry above.\n");
  } else {
    absl::StrAppend(&out, "\n", style.Paint("✓ Host set up", Color::kGreen), " (", tally, ").\n");
  }
  return out;
}

}  // namespace llorch
