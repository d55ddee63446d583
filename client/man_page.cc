#include "client/man_page.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/version.h"

namespace llorch {
namespace {

// `text` as roff input: backslashes escaped, and no line taken for a request.
std::string Roff(absl::string_view text) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    std::string escaped = absl::StrReplaceAll(line, {{"\\", "\\e"}});
    if (!escaped.empty() && (escaped[0] == '.' || escaped[0] == '\'')) escaped.insert(0, "\\&");
    absl::StrAppend(&out, escaped, "\n");
  }
  return out;
}

// A flag's names as roff: "\-o, \-\-output".
std::string FlagNames(const CLI::Option& option) {
  std::string names;
  for (const std::string& name : option.get_snames()) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", "\\-", name);
  }
  for (const std::string& name : option.get_lnames()) {
    absl::StrAppend(&names, names.empty() ? "" : ", ", "\\-\\-", name);
  }
  return names;
}

// The options of `command`, one tagged paragraph each; --help is left out (every command has it).
std::string Options(const CLI::App& command) {
  std::string out;
  for (const CLI::Option* option : command.get_options()) {
    if (option == command.get_help_ptr()) continue;
    std::string tag;
    if (option->nonpositional()) {
      tag = absl::StrCat("\\fB", FlagNames(*option), "\\fR");
      if (option->get_expected_min() != 0)
        absl::StrAppend(&tag, " \\fI", option->get_type_name(), "\\fR");
    } else {
      tag = absl::StrCat("\\fI", option->get_name(/*positional=*/true), "\\fR");
    }
    absl::StrAppend(&out, ".TP\n", tag, "\n", Roff(option->get_description()));
  }
  return out;
}

std::string CommandPath(const CLI::App& command) {
  std::string path = command.get_name();
  for (const CLI::App* a = command.get_parent(); a != nullptr; a = a->get_parent()) {
    path = a->get_name() + " " + path;
  }
  return path;
}

// One section per command below `parent`, depth first, in the order of --help.
void AddCommands(const CLI::App& parent, std::string* out) {
  for (const CLI::App* command : parent.get_subcommands([](const CLI::App*) { return true; })) {
    if (command->get_group().empty()) continue;  // hidden
    const std::string usage = std::string(
        absl::StripPrefix(CLI::Formatter().make_usage(command, CommandPath(*command)), "Usage: "));
    absl::StrAppend(out, ".SS \"", CommandPath(*command), "\"\n", Roff(command->get_description()),
                    ".PP\n.nf\n", Roff(absl::StripTrailingAsciiWhitespace(usage)), ".fi\n",
                    Options(*command));
    if (!command->get_footer().empty()) {
      absl::StrAppend(out, ".PP\n.nf\n", Roff(command->get_footer()), ".fi\n");
    }
    AddCommands(*command, out);
  }
}

}  // namespace

std::string ManPage(const CLI::App& root) {
  const std::string name = root.get_name();
  std::string out = absl::StrCat(
      ".TH ", absl::AsciiStrToUpper(name), " 1 \"\" \"", name, " ", kVersion,
      "\" \"User Commands\"\n.SH NAME\n", name, " \\- ",
      Roff(absl::StripPrefix(root.get_description(), name + ": ")), ".SH SYNOPSIS\n.B ", name,
      "\n[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGUMENTS\\fR]\n.SH DESCRIPTION\n.nf\n",
      Roff(root.get_footer()), ".fi\n.SH OPTIONS\nAccepted before or after the command.\n",
      Options(root), ".SH COMMANDS\n");
  AddCommands(root, &out);
  absl::StrAppend(&out,
                  ".SH SEE ALSO\n\\fBpool\\-agent\\fR(8); README.md and docs/operator-guide.md "
                  "of the llorch-pool sources.\n");
  return out;
}

}  // namespace llorch
