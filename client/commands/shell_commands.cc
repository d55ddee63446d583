// `llorch-pool completion bash|zsh|fish`, and the hidden commands behind it and the man page:
// `__complete WORD... CURRENT` (what the completion scripts ask) and `__man` (what the build
// installs as llorch-pool.1).
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "client/cli.h"
#include "client/completion.h"
#include "client/man_page.h"

namespace llorch {

void AddShellCommands(CommandLine& cli) {
  auto shell = std::make_shared<std::string>();
  CLI::App* completion = cli.AddLocalCommand(
      &cli.app(), "completion",
      "Print a shell completion script: commands, flags, model and operation ids",
      "  source <(llorch-pool completion bash)       in ~/.bashrc\n"
      "  source <(llorch-pool completion zsh)        in ~/.zshrc, after compinit\n"
      "  llorch-pool completion fish | source        in ~/.config/fish/config.fish\n"
      "  llorch-pool completion bash > /usr/share/bash-completion/completions/llorch-pool\n",
      [shell] {
        std::fputs(CompletionScript(*shell).c_str(), stdout);
        return 0;
      });
  completion->add_option("shell", *shell, "bash, zsh or fish")
      ->required()
      ->check(CLI::IsMember({"bash", "zsh", "fish"}));

  // Hidden (no group): for the scripts, not for people.
  CLI::App* complete = cli.AddCommand(&cli.app(), "__complete", "", "", [&cli](Session& session) {
    std::vector<std::string> words = cli.app().get_subcommand("__complete")->remaining();
    const std::string current = words.empty() ? "" : words.back();
    if (!words.empty()) words.pop_back();
    std::fputs(FormatCandidates(cli.Complete(session, words, current), current).c_str(), stdout);
    return 0;
  });
  complete->group("");
  // Every word after it is the command line being completed, not one to parse (global flags
  // among them included: the agent asked for ids is the one the configuration names).
  complete->prefix_command();
  complete->fallthrough(false);

  CLI::App* man = cli.AddLocalCommand(&cli.app(), "__man", "", "", [&cli] {
    std::fputs(ManPage(cli.app()).c_str(), stdout);
    return 0;
  });
  man->group("");
}

}  // namespace llorch
