// The llorch-pool command line: global flags, the command tree, and dispatch.
//
// Each command group (client/commands/*.cc) registers its subcommands on the tree. A command's
// parse callback only records an Action; it runs after parsing has finished, so global flags
// given after the subcommand (`llorch-pool models catalog --output json`) are already applied.
#ifndef LLORCH_CLIENT_CLI_H_
#define LLORCH_CLIENT_CLI_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "client/completion.h"
#include "client/session.h"

namespace llorch {

using Action = std::function<int(Session&)>;
// A command that needs neither the configuration nor an agent (`help`, `version`).
using LocalAction = std::function<int()>;

// Flags that set a configuration key are nullopt when not given.
struct GlobalFlags {
  std::optional<std::string> agent;
  std::optional<std::string> token_file;
  std::optional<std::string> tls_ca;
  std::optional<std::string> tls_cert;
  std::optional<std::string> tls_key;
  bool standalone = false;
  std::optional<std::string> output;
  bool events = false;
  bool no_headers = false;
  bool no_color = false;
  std::optional<std::string> config_file;
  std::optional<std::string> catalog;
  std::optional<std::string> models_dir;
  std::optional<std::string> repo_root;
  int verbosity = 0;
  bool quiet = false;
  bool detach = false;
};

class CommandLine {
 public:
  CommandLine();

  // Parses argv, loads the configuration and runs the chosen command. Returns the exit code.
  // The command's session (and its connection) lives until this object is destroyed.
  int Run(int argc, const char* const* argv);
  // True when the command ran against a pool-agent process, or against an agent in this process
  // that started no operation: then nothing is left to do at the end but tear gRPC's threads
  // down.
  bool NothingToStop() const { return session_ != nullptr && session_->NothingToStop(); }

  CLI::App& app() { return app_; }

  // Adds a command group such as `models`, which needs a subcommand.
  CLI::App* AddGroup(CLI::App* parent, const std::string& name, const std::string& description,
                     const std::string& examples);
  // Adds a runnable command; `action` runs once parsing is complete.
  CLI::App* AddCommand(CLI::App* parent, const std::string& name, const std::string& description,
                       const std::string& examples, Action action);
  // Adds a command whose action runs without loading the configuration, so it works on any host.
  CLI::App* AddLocalCommand(CLI::App* parent, const std::string& name,
                            const std::string& description, const std::string& examples,
                            LocalAction action);

  // Gives `command`, which runs an operation, the flag --detach (Session::detach()).
  void AllowDetach(CLI::App* command);

  // `command` runs even when the configuration has errors (`dev check-config`, which reports
  // them): on the values that load, with an agent in this process, after a note on stderr.
  void AllowConfigErrors(const CLI::App* command);

  // Where completion finds the values of `command`'s positional arguments, or of `option`.
  void CompleteWith(const CLI::App* command, CandidateSource source);
  void CompleteWith(const CLI::Option* option, CandidateSource source);
  // The completion candidates for `current` after `words` (see client/completion.h).
  std::vector<Candidate> Complete(Session& session, const std::vector<std::string>& words,
                                  absl::string_view current) const;

 private:
  // `help` and `version`.
  void AddHelpCommands();
  // `help WORDS...`: prints the help of the command WORDS name.
  int PrintHelp(const std::vector<std::string>& words);

  // Loads the configuration, applies the flags and runs the recorded action.
  int RunAction();

  CLI::App app_;
  GlobalFlags flags_;
  Action action_;
  LocalAction local_action_;
  std::set<const CLI::App*> config_error_tolerant_;
  std::map<const CLI::App*, CandidateSource> positional_sources_;
  std::map<const CLI::Option*, CandidateSource> option_sources_;
  std::unique_ptr<Session> session_;
};

// Command groups, one file each under client/commands/.
void AddModelsCommands(CommandLine& cli);
void AddGitCommands(CommandLine& cli);
void AddWorkerCommands(CommandLine& cli);
void AddDevCommands(CommandLine& cli);
void AddOpsCommands(CommandLine& cli);
void AddAgentCommands(CommandLine& cli);
// `completion`, and the hidden commands behind it and the man page:
// client/commands/shell_commands.cc.
void AddShellCommands(CommandLine& cli);

}  // namespace llorch

#endif  // LLORCH_CLIENT_CLI_H_
