#include "client/cli.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iterator>
#include <memory>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "client/render/errors.h"
#include "common/config.h"
#include "common/paths.h"
#include "common/strings.h"
#include "common/version.h"

namespace llorch {
namespace {

constexpr char kRootExamples[] = R"(Examples:
  llorch-pool models catalog                 every model the catalog knows, and what is on disk
  llorch-pool models catalog --output json   the same as JSON, for scripts
  llorch-pool agent info -v                  which agent answers, and where it keeps things
  llorch-pool help models download           the help of one command
  llorch-pool --agent 127.0.0.1:9200 --token-file ~/.config/llorch/admin.token models catalog
  llorch-pool --agent gpu1:9200 --tls-ca ca.pem --tls-cert me.pem --tls-key me.key agent info

Connection: --agent ADDR, else agent.address from the configuration (or LLORCH_AGENT), else the
default socket if an agent answers there, else an agent inside this process (standalone mode).
An agent on TCP wants a token (--token-file) or a client certificate; a token travels over
plaintext only to loopback addresses (docs/security.md).
Scripts: -o json prints one JSON document (an operation command's final result), -o jsonl (or
--events) an operation's events one a line; sizes are JSON numbers:
  llorch-pool models list -o json | jq '.models[] | select(.total_bytes > 1e9) | .id'
Operations: Ctrl-C cancels an operation only in the command that started it; in `ops watch`, or
in a command that joined one already running, it stops watching and the operation goes on.
--detach returns at once with the operation id (needs pool-agent): `llorch-pool ops watch ID`.
Exit codes: 0 ok, 1 failed, 2 bad usage or input, 3 agent unreachable, 130 interrupted,
141 stdout's reader went away.)";

// The help of the deepest subcommand the user selected, or of the root.
CLI::App* DeepestSelected(CLI::App* app) {
  for (CLI::App* sub : app->get_subcommands()) return DeepestSelected(sub);
  return app;
}

std::string CommandPath(const CLI::App* app) {
  std::string path;
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    path = path.empty() ? a->get_name() : a->get_name() + " " + path;
  }
  return path;
}

// The names of the subcommands of `app`, in the order of its help.
std::vector<std::string> SubcommandNames(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* sub : app->get_subcommands([](const CLI::App*) { return true; })) {
    names.push_back(sub->get_name());
  }
  return names;
}

// "unknown command 'models lst' (did you mean 'models list'?)": `word` where `group` expects one
// of its subcommands.
std::string UnknownCommand(const std::string& word, const CLI::App* group) {
  // The words after "llorch-pool", as the user typed them: "models ".
  std::string prefix;
  for (const CLI::App* a = group; a->get_parent() != nullptr; a = a->get_parent()) {
    prefix = a->get_name() + " " + prefix;
  }
  const std::string match = ClosestMatch(word, SubcommandNames(group));
  return absl::StrCat("unknown command '", prefix, word, "'",
                      match.empty() ? "" : absl::StrCat(" (did you mean '", prefix, match, "'?)"));
}

// What the first word the command line did not expect is: "unknown flag '--frce' (did you mean
// '--force'?)" against the flags `app` and its parents accept; where `app` is a group, an unknown
// command with the closest of its commands; else "unexpected argument 'x'".
std::string Unexpected(const std::string& word, const CLI::App* app) {
  if (word.size() < 2 || word[0] != '-') {
    if (!SubcommandNames(app).empty()) return UnknownCommand(word, app);
    return absl::StrCat("unexpected argument '", word, "'");
  }
  const std::string flag = word.substr(0, word.find('='));
  std::vector<std::string> known;
  for (const CLI::App* a = app; a != nullptr; a = a->get_parent()) {
    for (const CLI::Option* option : a->get_options()) {
      for (const std::string& name : option->get_lnames()) known.push_back("--" + name);
      for (const std::string& name : option->get_snames()) known.push_back("-" + name);
    }
  }
  return absl::StrCat("unknown flag '", flag, "'", DidYouMean(flag, known));
}

std::string VersionLine() {
  return absl::StrCat("llorch-pool ", kVersion, " (API ", kApiVersion, ")");
}

}  // namespace

CommandLine::CommandLine()
    : app_(
          "llorch-pool: manage an LLM inference host (models, git "
          "checkout, workers, environment)",
          "llorch-pool") {
  app_.set_version_flag("--version", VersionLine());
  app_.footer(kRootExamples);
  // Global flags are accepted before or after the subcommand.
  app_.fallthrough();
  app_.add_option("--agent", flags_.agent,
                  "Agent to talk to: unix:PATH or HOST:PORT (overrides agent.address)")
      ->type_name("ADDR");
  // How to reach an agent on TCP (docs/security.md), each setting one client.* key.
  const std::pair<const char*, const char*> access_files[] = {
      {"--token-file",
       "File holding the token for an agent on TCP (client.token_file); sent over plaintext to "
       "loopback addresses only"},
      {"--tls-ca",
       "TLS to the agent on TCP: the CA that signed its certificate (client.tls_ca_file)"},
      {"--tls-cert", "Mutual TLS: this client's certificate (client.tls_cert_file)"},
      {"--tls-key", "Mutual TLS: this client's private key (client.tls_key_file)"}};
  std::optional<std::string>* const access_values[] = {&flags_.token_file, &flags_.tls_ca,
                                                       &flags_.tls_cert, &flags_.tls_key};
  for (size_t i = 0; i < std::size(access_files); ++i) {
    app_.add_option(access_files[i].first, *access_values[i], access_files[i].second)
        ->type_name("FILE");
  }
  app_.add_flag("--standalone", flags_.standalone,
                "Run the agent code inside this process, even if an agent is running");
  app_.add_option("-o,--output", flags_.output,
                  "Output format: table, wide (more columns, nothing cut), json (one document; "
                  "an operation's final result) or jsonl (one object a line; its events)")
      ->check(CLI::IsMember({"table", "wide", "json", "jsonl"}));
  app_.add_flag("--events", flags_.events,
                "An operation's events as they come, one JSON object a line (= -o jsonl)");
  app_.add_flag("--no-headers", flags_.no_headers, "Tables without their header line");
  app_.add_flag("--no-color", flags_.no_color, "No colours (also NO_COLOR=1, or stdout not a TTY)");
  app_.add_option("--config", flags_.config_file,
                  "Extra configuration file, read after /etc and the user file")
      ->type_name("FILE");
  app_.add_option("--catalog", flags_.catalog,
                  "Model catalog file to use instead of the built-in one (standalone mode)")
      ->type_name("FILE");
  app_.add_option("--models-dir", flags_.models_dir, "Models directory (standalone mode)")
      ->type_name("DIR");
  app_.add_option("--repo-root", flags_.repo_root, "Repository checkout (standalone mode)")
      ->type_name("DIR");
  app_.add_flag("-v,--verbose", flags_.verbosity, "Say more (e.g. which agent answered)");
  app_.add_flag("-q,--quiet", flags_.quiet, "Print nothing but the result");

  AddModelsCommands(*this);
  AddGitCommands(*this);
  AddWorkerCommands(*this);
  AddDevCommands(*this);
  AddOpsCommands(*this);
  AddAgentCommands(*this);
  AddHelpCommands();
  AddShellCommands(*this);
  CompleteWith(app_.get_option("--output"), [](Session&) {
    return std::vector<Candidate>{{"table", "tables and text"},
                                  {"wide", "tables with every column, nothing cut"},
                                  {"json", "the API's messages"},
                                  {"jsonl", "one JSON object a line; an operation's events"}};
  });
}

void CommandLine::AddHelpCommands() {
  CLI::App* help =
      AddLocalCommand(&app_, "help", "The help of a command (the same as COMMAND --help)",
                      "  llorch-pool help\n  llorch-pool help models download\n", nullptr);
  auto words = std::make_shared<std::vector<std::string>>();
  help->add_option("command", *words, "The command, e.g. models download")->type_name("COMMAND...");
  help->callback([this, words] { local_action_ = [this, words] { return PrintHelp(*words); }; });
  // The root takes one command: so `help models` is the words of `help`, not the command `models`.
  app_.require_subcommand(0, 1);
  AddLocalCommand(&app_, "version", "The CLI's version and the API it speaks (as --version)",
                  "  llorch-pool version\n", [] {
                    std::printf("%s\n", VersionLine().c_str());
                    return 0;
                  });
}

int CommandLine::PrintHelp(const std::vector<std::string>& words) {
  CLI::App* command = &app_;
  for (const std::string& word : words) {
    CLI::App* sub = nullptr;
    for (CLI::App* candidate : command->get_subcommands([](CLI::App*) { return true; })) {
      if (candidate->get_name() == word) sub = candidate;
    }
    if (sub == nullptr) {
      ClientError error;
      error.message = UnknownCommand(word, command);
      error.hint = absl::StrCat("see `", CommandPath(command), " --help`");
      error.exit_code = kExitUsage;
      return ReportError(error, Style::For(stderr, std::getenv("NO_COLOR") ? "never" : "auto"));
    }
    command = sub;
  }
  // From the formatter: App::help() would show the selected `help` command's own help.
  const std::string text = command->get_formatter()->make_help(command, CommandPath(command),
                                                               CLI::AppFormatMode::Normal);
  std::fputs(text.c_str(), stdout);
  return 0;
}

void CommandLine::CompleteWith(const CLI::App* command, CandidateSource source) {
  positional_sources_[command] = std::move(source);
}

void CommandLine::CompleteWith(const CLI::Option* option, CandidateSource source) {
  option_sources_[option] = std::move(source);
}

std::vector<Candidate> CommandLine::Complete(Session& session,
                                             const std::vector<std::string>& words,
                                             absl::string_view current) const {
  const CompletionPoint point = LocateCompletion(app_, words);
  if (point.option != nullptr) {
    auto source = option_sources_.find(point.option);
    return source == option_sources_.end() ? std::vector<Candidate>() : source->second(session);
  }
  std::vector<Candidate> candidates = TreeCandidates(point, current);
  if (point.command == nullptr || !candidates.empty() || absl::StartsWith(current, "-")) {
    return candidates;
  }
  auto source = positional_sources_.find(point.command);
  return source == positional_sources_.end() ? candidates : source->second(session);
}

CLI::App* CommandLine::AddGroup(CLI::App* parent, const std::string& name,
                                const std::string& description, const std::string& examples) {
  CLI::App* group = parent->add_subcommand(name, description);
  if (!examples.empty()) group->footer("Examples:\n" + examples);
  return group;
}

CLI::App* CommandLine::AddCommand(CLI::App* parent, const std::string& name,
                                  const std::string& description, const std::string& examples,
                                  Action action) {
  CLI::App* command = AddGroup(parent, name, description, examples);
  command->footer(absl::StrCat(command->get_footer(),
                               "\nGlobal options (--agent, -o json, -q, -v, --no-color, ...) work\n"
                               "here too; `llorch-pool --help` lists them."));
  command->callback([this, action = std::move(action)] { action_ = action; });
  return command;
}

CLI::App* CommandLine::AddLocalCommand(CLI::App* parent, const std::string& name,
                                       const std::string& description, const std::string& examples,
                                       LocalAction action) {
  CLI::App* command = AddGroup(parent, name, description, examples);
  command->callback([this, action = std::move(action)] { local_action_ = action; });
  return command;
}

int CommandLine::Run(int argc, const char* const* argv) {
  Style err_style = Style::For(stderr, std::getenv("NO_COLOR") ? "never" : "auto");
  // Ids, names and paths travel to the agent as proto3 strings, which must be UTF-8.
  for (int i = 1; i < argc; ++i) {
    if (IsValidUtf8(argv[i])) continue;
    ClientError error;
    error.message = absl::StrCat("argument '", ToValidUtf8(argv[i]), "' is not valid UTF-8");
    error.hint =
        "give ids, names and paths in UTF-8; reach a file whose name is not through a "
        "symlink or directory whose name is";
    error.exit_code = kExitUsage;
    return ReportError(error, err_style);
  }
  // `__complete WORD...` parses no WORD, but the global flags among them choose the agent that
  // completion asks for ids: they are parsed as if given before it.
  std::vector<const char*> args(argv, argv + argc);
  std::vector<std::string> completed_flags;
  if (argc > 2 && std::string(argv[1]) == "__complete") {
    completed_flags = GlobalFlagsAmong(app_, std::vector<std::string>(argv + 2, argv + argc - 1));
    args.insert(args.begin() + 1, completed_flags.size(), nullptr);
    for (size_t i = 0; i < completed_flags.size(); ++i) args[1 + i] = completed_flags[i].c_str();
  }
  try {
    app_.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::CallForHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app_.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app_.exit(e);
  } catch (const CLI::ParseError& e) {
    // CLI11 checks required arguments before leftovers, but an unknown flag is the first thing to
    // say: `models info -x` is about -x, not "id is required".
    const std::vector<std::string> unexpected = app_.remaining(/*recurse=*/true);
    ClientError error;
    CLI::App* selected = DeepestSelected(&app_);
    error.message = unexpected.empty() ? e.what() : Unexpected(unexpected.front(), selected);
    error.hint = absl::StrCat("see `", CommandPath(selected), " --help`");
    error.exit_code = kExitUsage;
    return ReportError(error, err_style);
  }
  if (local_action_) return local_action_();
  CLI::App* selected = DeepestSelected(&app_);
  if (!action_) {
    // A group without its subcommand: show what it offers.
    // help() names the command from `prev`, the path of its parent ("llorch-pool git").
    std::fprintf(stderr, "%s", selected->help(CommandPath(selected->get_parent())).c_str());
    ClientError error;
    error.message = absl::StrCat("`", CommandPath(selected), "` needs a subcommand");
    error.exit_code = kExitUsage;
    return ReportError(error, err_style);
  }
  return RunAction();
}

void CommandLine::AllowDetach(CLI::App* command) {
  command->add_flag("--detach", flags_.detach,
                    "Return once the operation has started, printing its id (with -o json: "
                    "{\"operation_id\": ...}); it goes on in the agent: `llorch-pool ops watch "
                    "ID` follows it. Needs a running agent");
}

void CommandLine::AllowConfigErrors(const CLI::App* command) {
  config_error_tolerant_.insert(command);
}

int CommandLine::RunAction() {
  ConfigSources sources;
  sources.explicit_file = flags_.config_file;
  sources.env = EnvironmentSnapshot();
  const Style err_style =
      Style::For(stderr, flags_.no_color || sources.env.count("NO_COLOR") ? "never" : "auto");
  AddFlags(&sources, {{"agent.address", "--agent", flags_.agent},
                      {"client.token_file", "--token-file", flags_.token_file},
                      {"client.tls_ca_file", "--tls-ca", flags_.tls_ca},
                      {"client.tls_cert_file", "--tls-cert", flags_.tls_cert},
                      {"client.tls_key_file", "--tls-key", flags_.tls_key},
                      {"catalog", "--catalog", flags_.catalog},
                      {"models_dir", "--models-dir", flags_.models_dir},
                      {"repo_root", "--repo-root", flags_.repo_root},
                      {"client.output", "--output", flags_.output}});
  if (flags_.no_color) sources.flags.push_back({"client.color", "--no-color", {"never"}});
  if (flags_.events) sources.flags.push_back({"client.output", "--events", {"jsonl"}});
  absl::StatusOr<Config> config = LoadConfig(sources);
  bool config_has_errors = false;
  if (!config.ok()) {
    if (config_error_tolerant_.count(DeepestSelected(&app_)) == 0) {
      return ReportError(FromStatus(config.status()), err_style);
    }
    // What loads, in this process: an agent elsewhere knows nothing of this command's layers.
    config = WalkConfigLayers(sources, /*keep_going=*/true).config;
    config_has_errors = true;
    if (!flags_.quiet) {
      std::fprintf(stderr, "%s\n",
                   err_style
                       .Paint("note: this command's configuration has errors; checking its own "
                              "layers with an agent in this process",
                              Color::kYellow)
                       .c_str());
    }
  }
  if (flags_.standalone && flags_.agent) {
    ClientError error;
    error.message = "--agent and --standalone contradict each other";
    error.hint = "use --agent ADDR to talk to an agent, or --standalone to run in-process";
    error.exit_code = kExitUsage;
    return ReportError(error, err_style);
  }
  ConnectOptions connect;
  connect.standalone = flags_.standalone || config_has_errors;
  connect.tolerate_config_errors = config_error_tolerant_.count(DeepestSelected(&app_)) > 0;
  connect.env = sources.env;
  connect.working_dir = std::filesystem::current_path();
  session_ = std::make_unique<Session>(std::move(*config), std::move(connect), flags_.verbosity,
                                       flags_.quiet, CommandPath(DeepestSelected(&app_)),
                                       !flags_.no_headers);
  session_->set_detach(flags_.detach);
  return action_(*session_);
}

}  // namespace llorch
