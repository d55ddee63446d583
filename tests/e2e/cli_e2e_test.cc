// llorch-pool as a new user runs it: installed binary, no agent running, fresh home.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/render/table.h"
#include "nlohmann/json.hpp"
#include "tests/e2e/e2e_env.h"
#include "tests/support/gguf_writer.h"

namespace llorch::testing {
namespace {

using ::testing::AllOf;
using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const std::vector<std::string> kModelIds = {"tinyllama", "qwen",   "qwen-fp16", "phi3", "llama3",
                                            "llama32",   "llama2", "mistral",   "gpt2", "granite"};

void WriteFile(const std::string& path, const std::string& content) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

class CliE2eTest : public ::testing::Test {
 protected:
  E2eEnvironment env_;
};

TEST_F(CliE2eTest, CatalogShowsAllTenModelsWithHubUrlsAndStatus) {
  CommandResult result = env_.Run({"models", "catalog"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  for (const std::string& id : kModelIds) EXPECT_THAT(result.out, HasSubstr(id + " "));
  EXPECT_THAT(result.out,
              HasSubstr("https://huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"));
  EXPECT_THAT(result.out, HasSubstr("https://huggingface.co/openai-community/gpt2"));
  EXPECT_THAT(result.out, HasSubstr("not downloaded"));
  EXPECT_THAT(result.out, HasSubstr("669 MB"));
  // Not a terminal: no colour escapes.
  EXPECT_THAT(result.out, Not(HasSubstr("\x1b[")));
}

TEST_F(CliE2eTest, CatalogReadsDownloadStatusFromTheModelsDir) {
  WriteFile(env_.models_dir() + "/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf", "GGUF....");
  WriteFile(env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", "GGUF");
  WriteFile(
      env_.models_dir() + "/tinyllama/.llorch/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf.manifest.json",
      R"({"size": 4})");
  WriteFile(env_.models_dir() + "/phi3/.llorch/Phi-3-mini-4k-instruct-q4.gguf.partial", "12");
  CommandResult result = env_.Run({"models", "catalog", "--output", "json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  std::map<std::string, std::string> states;
  for (const auto& entry : json["entries"]) {
    states[entry["model"]["id"]] = entry["state"];
  }
  EXPECT_EQ(states["tinyllama"], "DOWNLOAD_STATE_DOWNLOADED");
  EXPECT_EQ(states["qwen"], "DOWNLOAD_STATE_UNVERIFIED");
  EXPECT_EQ(states["qwen-fp16"], "DOWNLOAD_STATE_NOT_DOWNLOADED");
  EXPECT_EQ(states["phi3"], "DOWNLOAD_STATE_PARTIAL");
  EXPECT_EQ(states["mistral"], "DOWNLOAD_STATE_NOT_DOWNLOADED");

  CommandResult table = env_.Run({"models", "catalog"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("downloaded"));
  EXPECT_THAT(table.out, HasSubstr("unverified"));
  EXPECT_THAT(table.out, HasSubstr("partial"));
}

TEST_F(CliE2eTest, CatalogJsonParsesWithEveryField) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"models", "catalog", "--output", "json"},
                                             {"--output", "json", "models", "catalog"},
                                             {"-o", "json", "models", "catalog"}}) {
    CommandResult result = env_.Run(args);
    ASSERT_EQ(result.exit_code, 0) << result.err;
    nlohmann::json json = nlohmann::json::parse(result.out);
    ASSERT_EQ(json["entries"].size(), kModelIds.size());
    for (size_t i = 0; i < kModelIds.size(); ++i) {
      const auto& model = json["entries"][i]["model"];
      EXPECT_EQ(model["id"], kModelIds[i]);
      EXPECT_EQ(model["hub_url"], "https://huggingface.co/" + model["repo"].get<std::string>());
      EXPECT_TRUE(model.contains("verified"));
      EXPECT_TRUE(model.contains("size_bytes"));
    }
    EXPECT_EQ(json["models_dir"], env_.models_dir());
  }
}

TEST_F(CliE2eTest, CatalogFiltersByIdAndUnknownIdIsActionable) {
  CommandResult one = env_.Run({"models", "catalog", "qwen-fp16"});
  ASSERT_EQ(one.exit_code, 0) << one.err;
  EXPECT_THAT(one.out, HasSubstr("qwen-fp16"));
  EXPECT_THAT(one.out, Not(HasSubstr("tinyllama")));

  CommandResult unknown = env_.Run({"models", "catalog", "qwn"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("error: unknown model 'qwn'"));
  EXPECT_THAT(unknown.err, HasSubstr("did you mean 'qwen'"));
  EXPECT_THAT(unknown.err, HasSubstr("hint:"));
}

TEST_F(CliE2eTest, UnknownModelIdIsRejectedBeforeAnythingRuns) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"models", "info", "tinyllam"},
                                             {"models", "download", "tinyllam"},
                                             {"models", "delete", "tinyllam", "--force"},
                                             {"models", "verify", "tinyllam"}}) {
    CommandResult result = env_.Run(args);
    EXPECT_EQ(result.exit_code, 2) << args[1];
    EXPECT_THAT(result.err, HasSubstr("unknown model 'tinyllam' (did you mean 'tinyllama'?)"));
  }
}

TEST_F(CliE2eTest, BadFlagExitsTwoWithAMessage) {
  CommandResult result = env_.Run({"models", "catalog", "--bogus"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("error:"));
  EXPECT_THAT(result.err, HasSubstr("--bogus"));
  EXPECT_THAT(result.err, HasSubstr("llorch-pool models catalog --help"));

  CommandResult bad_output = env_.Run({"--output", "yaml", "models", "catalog"});
  EXPECT_EQ(bad_output.exit_code, 2);
  EXPECT_THAT(bad_output.err, HasSubstr("yaml"));
}

TEST_F(CliE2eTest, AnUnknownFlagIsReportedBeforeAMissingArgument) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"models", "info", "-x"}, {"ops", "get", "-x"}, {"worker", "stop", "--bogus"}}) {
    CommandResult result = env_.Run(args);
    EXPECT_EQ(result.exit_code, 2) << args[0];
    EXPECT_THAT(result.err, HasSubstr("error: unknown flag '" + args.back() + "'"));
    EXPECT_THAT(result.err, Not(HasSubstr("is required")));
    EXPECT_THAT(result.err, HasSubstr("hint: see `llorch-pool " + args[0] + " " + args[1]));
  }
  // A typo of a flag of the command or a global one gets the flag it probably meant.
  EXPECT_THAT(env_.Run({"models", "delete", "tinyllama", "--frce"}).err,
              HasSubstr("error: unknown flag '--frce' (did you mean '--force'?)"));
  EXPECT_THAT(env_.Run({"models", "list", "--outptu=json"}).err,
              HasSubstr("error: unknown flag '--outptu' (did you mean '--output'?)"));
  EXPECT_THAT(env_.Run({"models", "info", "tinyllama", "extra"}).err,
              HasSubstr("error: unexpected argument 'extra'"));
}

// A mistyped command gets the command it probably meant, at any depth, and runs nothing.
TEST_F(CliE2eTest, AMistypedCommandGetsTheCommandItProbablyMeant) {
  const std::vector<std::pair<std::vector<std::string>, std::string>> typos = {
      {{"models", "lst"}, "unknown command 'models lst' (did you mean 'models list'?)"},
      {{"git", "stauts"}, "unknown command 'git stauts' (did you mean 'git status'?)"},
      {{"git", "submodule", "list"},
       "unknown command 'git submodule' (did you mean 'git submodules'?)"},
      {{"git", "submodules", "lst"},
       "unknown command 'git submodules lst' (did you mean 'git submodules list'?)"},
      {{"modls", "list"}, "unknown command 'modls' (did you mean 'models'?)"},
      {{"models", "frobnicate"}, "unknown command 'models frobnicate'\n"},
  };
  for (const auto& [args, message] : typos) {
    CommandResult result = env_.Run(args);
    EXPECT_EQ(result.exit_code, 2) << args[0];
    EXPECT_THAT(result.err, HasSubstr("error: " + message));
    EXPECT_EQ(result.out, "");
  }
  EXPECT_THAT(env_.Run({"git", "stauts"}).err, HasSubstr("hint: see `llorch-pool git --help`"));
}

// `help [COMMAND...]` is COMMAND --help, and `version` is --version: what people type first.
TEST_F(CliE2eTest, HelpAndVersionAreCommandsToo) {
  for (const std::vector<std::string>& words : std::vector<std::vector<std::string>>{
           {}, {"models"}, {"models", "download"}, {"git", "submodules", "list"}}) {
    std::vector<std::string> help = {"help"};
    help.insert(help.end(), words.begin(), words.end());
    std::vector<std::string> flag = words;
    flag.push_back("--help");
    CommandResult by_command = env_.Run(help);
    EXPECT_EQ(by_command.exit_code, 0) << by_command.err;
    EXPECT_EQ(by_command.out, env_.Run(flag).out) << help.size();
    EXPECT_THAT(by_command.out, HasSubstr("Usage: llorch-pool"));
  }
  CommandResult typo = env_.Run({"help", "models", "dwnload"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_THAT(typo.err,
              HasSubstr("unknown command 'models dwnload' (did you mean 'models download'?)"));
  CommandResult version = env_.Run({"version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_EQ(version.out, env_.Run({"--version"}).out);
  EXPECT_THAT(version.out, HasSubstr("llorch-pool 0.1.0 (API llorch.pool.v1)"));
}

// What `__complete` offers for the word being typed (the last argument), values only.
std::vector<std::string> Completions(const E2eEnvironment& env,
                                     const std::vector<std::string>& words) {
  std::vector<std::string> args = {"__complete"};
  args.insert(args.end(), words.begin(), words.end());
  CommandResult result = env.Run(args);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  std::vector<std::string> values;
  std::istringstream lines(result.out);
  for (std::string line; std::getline(lines, line);)
    values.push_back(line.substr(0, line.find('\t')));
  return values;
}

// Completion offers commands at any depth, the flags of the command and the global ones, the
// values of --output, the catalog's model ids, and never a hidden command.
TEST_F(CliE2eTest, CompletionOffersCommandsFlagsAndIds) {
  EXPECT_THAT(Completions(env_, {"mo"}), ElementsAre("models"));
  EXPECT_THAT(Completions(env_, {""}),
              AllOf(Contains("models"), Contains("git"), Contains("completion"),
                    Not(Contains("__complete")), Not(Contains("__man"))));
  EXPECT_THAT(Completions(env_, {"git", "submodules", "up"}), ElementsAre("update"));
  EXPECT_THAT(Completions(env_, {"models", "download", "--f"}), ElementsAre("--force"));
  EXPECT_THAT(Completions(env_, {"models", "list", "--out"}), ElementsAre("--output"));
  EXPECT_THAT(Completions(env_, {"models", "list", "-o", ""}),
              ElementsAre("table", "wide", "json", "jsonl"));
  EXPECT_THAT(Completions(env_, {"models", "info", "qw"}), ElementsAre("qwen", "qwen-fp16"));
  EXPECT_THAT(Completions(env_, {"--standalone", "models", "verify", "tinyllama", "ll"}),
              ElementsAre("llama3", "llama32", "llama2"));
  EXPECT_THAT(Completions(env_, {"models", "frobnicate", ""}), IsEmpty());
  // Each command's own --help is offered once.
  EXPECT_THAT(Completions(env_, {"dev", "doctor", "--he"}), ElementsAre("--help"));
  EXPECT_THAT(Completions(env_, {"dev", "doctor", "gpu"}),
              ElementsAre("gpu.cuda", "gpu.cuda.uvm", "gpu.metal"));
}

// Global flags among the words choose the agent that completion asks: one that is not there
// offers no ids (and no error), where the default one offers the catalog's.
TEST_F(CliE2eTest, CompletionAsksTheAgentTheCommandLineNames) {
  EXPECT_THAT(Completions(env_, {"models", "info", "tiny"}), ElementsAre("tinyllama"));
  const std::string absent = "unix:" + env_.Path("no-agent.sock");
  EXPECT_THAT(Completions(env_, {"--agent", absent, "models", "info", "tiny"}), IsEmpty());
  EXPECT_THAT(Completions(env_, {"models", "--agent=" + absent, "info", "tiny"}), IsEmpty());
  EXPECT_THAT(Completions(env_, {"models", "info", "--agent", absent, "tiny"}), IsEmpty());
}

// Every check name completion offers is one the agent runs, in the agent's order.
TEST_F(CliE2eTest, CompletionOffersTheDoctorsCheckNames) {
  const std::vector<std::string> names = Completions(env_, {"dev", "doctor", ""});
  ASSERT_EQ(names.size(), 11u);
  std::vector<std::string> args = {"--standalone", "-o", "json", "dev", "doctor"};
  args.insert(args.end(), names.begin(), names.end());
  CommandResult doctor = env_.Run(args);
  ASSERT_NE(doctor.exit_code, 2) << doctor.err;
  std::vector<std::string> ran;
  const nlohmann::json report = nlohmann::json::parse(doctor.out);
  for (const auto& check : report.at("checks")) {
    ran.push_back(check.at("name").get<std::string>());
  }
  EXPECT_EQ(ran, names);
}

// The scripts `completion` prints work in the shells themselves.
TEST_F(CliE2eTest, CompletionScriptsCompleteInBashFishAndZsh) {
  CommandOptions shell;
  shell.env = env_.env();
  (*shell.env)["PATH"] =
      std::filesystem::path(InstalledBinary("llorch-pool")).parent_path().string() + ":" +
      env_.env()["PATH"];
  shell.working_dir = env_.Path("work");
  CommandResult bash = RunCommand(
      {"bash", "-c",
       "source <(llorch-pool completion bash) && COMP_WORDS=(llorch-pool models info tiny) && "
       "COMP_CWORD=3 && _llorch_pool && printf '%s\\n' \"${COMPREPLY[@]}\""},
      shell);
  EXPECT_EQ(bash.exit_code, 0) << bash.err;
  EXPECT_EQ(bash.out, "tinyllama\n");
  CommandResult fish = RunCommand(
      {"fish", "-c", "llorch-pool completion fish | source; complete -C 'llorch-pool git st'"},
      shell);
  EXPECT_EQ(fish.exit_code, 0) << fish.err;
  EXPECT_EQ(fish.out,
            "status\tBranch, HEAD, upstream, changes, submodules and the Rust toolchain\n");
  CommandResult zsh = RunCommand({"zsh", "-c",
                                  "autoload -U compinit && compinit -u && "
                                  "source <(llorch-pool completion zsh) && "
                                  "print -- $_comps[llorch-pool]"},
                                 shell);
  EXPECT_EQ(zsh.exit_code, 0) << zsh.err;
  EXPECT_EQ(zsh.out, "_llorch_pool\n");
  CommandResult unknown = env_.Run({"completion", "tcsh"});
  EXPECT_EQ(unknown.exit_code, 2);
  EXPECT_THAT(unknown.err, HasSubstr("tcsh"));
}

// `cmake --install` installs a man page made from the command tree: every command is in it,
// and groff reads it without a warning.
TEST_F(CliE2eTest, TheInstalledManPageDescribesEveryCommand) {
  const std::string page = std::string(LLORCH_INSTALL_DIR) + "/share/man/man1/llorch-pool.1";
  const std::string text = ReadFileBytes(page);
  for (const char* command :
       {"llorch-pool models download", "llorch-pool git submodules update", "llorch-pool ops watch",
        "llorch-pool agent events", "llorch-pool worker spawn", "llorch-pool dev doctor",
        "llorch-pool completion", "llorch-pool help"}) {
    EXPECT_THAT(text, HasSubstr(std::string(".SS \"") + command + "\"")) << command;
  }
  EXPECT_THAT(text, Not(HasSubstr("__complete")));
  EXPECT_THAT(text, HasSubstr("\\-\\-force"));
  CommandResult groff = RunCommand({"groff", "-man", "-Tutf8", "-ww", "-z", page});
  EXPECT_EQ(groff.exit_code, 0);
  EXPECT_EQ(groff.err, "");
}

TEST_F(CliE2eTest, PathsThatCannotBeUsedAreBadUsageForTheCliAndTheAgent) {
  const std::string file = env_.Path("work/notes.txt");
  WriteFile(file, "not a directory");
  struct Case {
    std::vector<std::string> flags;
    std::string error;
  };
  const std::vector<Case> cases = {
      {{"--repo-root", env_.Path("nonexistent")},
       "repo_root '" + env_.Path("nonexistent") + "' (set by flag --repo-root) does not exist"},
      {{"--repo-root", file},
       "repo_root '" + file + "' (set by flag --repo-root) is not a directory"},
      {{"--models-dir", file},
       "models_dir '" + file + "' (set by flag --models-dir) is not a directory"},
      {{"--models-dir", ""}, "--models-dir was given an empty value"},
      {{"--repo-root", ""}, "--repo-root was given an empty value"},
      {{"--config", ""}, "--config was given an empty value"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args = c.flags;
    args.insert(args.end(), {"models", "list"});
    CommandResult cli = env_.Run(args);
    EXPECT_EQ(cli.exit_code, 2) << c.error;
    EXPECT_THAT(cli.err, HasSubstr("error: " + c.error));
    EXPECT_THAT(cli.err, HasSubstr("hint: "));
    EXPECT_EQ(cli.out, "");
    // pool-agent checks the same before it listens.
    std::vector<std::string> argv = {InstalledBinary("pool-agent")};
    argv.insert(argv.end(), c.flags.begin(), c.flags.end());
    CommandOptions options;
    options.env = env_.env();
    options.working_dir = env_.Path("work");
    const std::string log = env_.Path("agent.log");
    std::filesystem::remove(log);
    BackgroundProcess agent(argv, options, log);
    const std::string socket = env_.Path("run/llorch/pool-agent.sock");
    ASSERT_TRUE(WaitFor([&] { return agent.Exited() || std::filesystem::exists(socket); }));
    ASSERT_TRUE(agent.Exited()) << c.error << ": the agent serves";
    EXPECT_EQ(agent.Wait(), 2) << c.error;
    EXPECT_THAT(ReadFileBytes(log), HasSubstr("error: " + c.error));
  }
  CommandResult agent = env_.Run({"--agent", "", "models", "list"});
  EXPECT_EQ(agent.exit_code, 2);
  EXPECT_THAT(agent.err, HasSubstr("error: --agent was given an empty value"));
  // The same from the environment and a configuration file.
  env_.env()["LLORCH_REPO_ROOT"] = file;
  EXPECT_EQ(env_.Run({"models", "list"}).exit_code, 2);
  env_.env().erase("LLORCH_REPO_ROOT");
  env_.env().erase("LLORCH_MODELS_DIR");
  WriteFile(env_.Path("config/llorch/pool.toml"), "models_dir = \"" + file + "\"\n");
  CommandResult from_file = env_.Run({"models", "list"});
  EXPECT_EQ(from_file.exit_code, 2);
  EXPECT_THAT(from_file.err, HasSubstr("(set by " + env_.Path("config/llorch/pool.toml") + ")"));
}

TEST_F(CliE2eTest, GroupWithoutSubcommandShowsItsHelpAndExitsTwo) {
  CommandResult result = env_.Run({"models"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("catalog"));
  EXPECT_THAT(result.err, HasSubstr("needs a subcommand"));
}

TEST_F(CliE2eTest, HelpAtEveryLevelHasExamples) {
  for (const auto& args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"models", "--help"},
                                             {"models", "catalog", "--help"},
                                             {"models", "download", "--help"},
                                             {"git", "--help"},
                                             {"git", "submodules", "--help"},
                                             {"git", "submodules", "branch", "--help"},
                                             {"worker", "spawn", "--help"},
                                             {"dev", "--help"},
                                             {"ops", "--help"},
                                             {"agent", "info", "--help"}}) {
    CommandResult result = env_.Run(args);
    EXPECT_EQ(result.exit_code, 0) << args[0];
    EXPECT_THAT(result.out, HasSubstr("Examples:")) << args[0] << " " << args.back();
    EXPECT_THAT(result.out, Not(HasSubstr("\x1b[")));
  }
}

TEST_F(CliE2eTest, VerboseSaysWhichAgentAnswered) {
  CommandResult result = env_.Run({"-v", "models", "catalog"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.err, HasSubstr("in-process agent (no agent answers at the default socket)"));
  CommandResult standalone = env_.Run({"models", "catalog", "--standalone", "-v"});
  EXPECT_THAT(standalone.err, HasSubstr("in-process agent (--standalone)"));
}

TEST_F(CliE2eTest, AgentInfoInProcessDescribesThisHost) {
  CommandResult result = env_.Run({"agent", "info", "--output", "json"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  nlohmann::json json = nlohmann::json::parse(result.out);
  EXPECT_EQ(json["in_process"], true);
  EXPECT_EQ(json["api_version"], "llorch.pool.v1");
  EXPECT_EQ(json["models_dir"], env_.models_dir());
  EXPECT_FALSE(json["hostname"].get<std::string>().empty());
}

TEST_F(CliE2eTest, UnreachableAgentExitsThreeWithTheSameMessageAndHintOnSocketAndTcp) {
  const std::string socket = env_.Path("run/nobody.sock");
  CommandResult result = env_.Run({"--agent", "unix:" + socket, "models", "catalog"});
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.err,
            "error: no agent answers at unix:" + socket +
                " (set by flag --agent)\nhint: start it with `pool-agent --listen unix:" + socket +
                "`, or run in-process with --standalone\n");

  env_.env()["LLORCH_AGENT"] = "127.0.0.1:1";  // nothing listens on port 1
  CommandResult tcp = env_.Run({"models", "catalog"});
  EXPECT_EQ(tcp.exit_code, 3) << tcp.err;
  EXPECT_EQ(tcp.err,
            "error: no agent answers at 127.0.0.1:1 (set by env LLORCH_AGENT): Connection "
            "refused\nhint: start it with `pool-agent --listen 127.0.0.1:1`, or run in-process "
            "with --standalone\n");
}

TEST_F(CliE2eTest, OpsWithoutAnAgentSayWhyTheyAreEmpty) {
  CommandResult list = env_.Run({"ops", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_EQ(list.out, "No operations.\n");
  EXPECT_THAT(list.err, HasSubstr("no agent is running"));
  EXPECT_THAT(list.err, HasSubstr("start `pool-agent`"));

  CommandResult watch = env_.Run({"ops", "watch", "op-12345678"});
  EXPECT_EQ(watch.exit_code, 2);  // an unknown id is bad input, like an unknown model id
  EXPECT_THAT(watch.err, HasSubstr("no operation 'op-12345678'"));
  EXPECT_THAT(watch.err, HasSubstr("no agent is running"));

  EXPECT_THAT(env_.Run({"-q", "ops", "list"}).err, ::testing::IsEmpty());
}

TEST_F(CliE2eTest, BadCatalogFileNamesFileAndLine) {
  WriteFile(env_.Path("work/bad.toml"), "[[models]]\nid = \"x\"\nbogus = 1\n");
  CommandResult result = env_.Run({"--catalog", env_.Path("work/bad.toml"), "models", "catalog"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("bad.toml:"));
}

TEST_F(CliE2eTest, ConfigErrorsNameFileAndLine) {
  WriteFile(env_.Path("config/llorch/pool.toml"), "models_dir = \"/m\"\nmodles_dir = 3\n");
  CommandResult result = env_.Run({"models", "catalog"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_THAT(result.err, HasSubstr("pool.toml:2"));
  EXPECT_THAT(result.err, HasSubstr("modles_dir"));
}

// Configuration and catalog input is a small regular file. A device, a FIFO or an oversized file
// is refused before it is read (a FIFO would block forever, /dev/zero never ends), with exit 2
// naming the file, what it is and the limit.
TEST_F(CliE2eTest, ConfigAndCatalogFilesMustBeSmallRegularFiles) {
  const std::string fifo = env_.Path("work/fifo.toml");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  const std::string big = env_.Path("work/big.toml");  // sparse: 1 MiB + 1 byte
  WriteFile(big, "");
  ASSERT_EQ(truncate(big.c_str(), (1 << 20) + 1), 0);
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  for (const Case& c : std::vector<Case>{
           {{"--config", "/dev/zero"}, "/dev/zero: the configuration file is a character device"},
           {{"--config", fifo}, fifo + ": the configuration file is a FIFO"},
           {{"--config", big}, big + ": the configuration file is 1048577 bytes, over the limit"},
           {{"--catalog", fifo}, fifo + ": the catalog is a FIFO"},
           {{"--catalog", big}, big + ": the catalog is 1048577 bytes, over the limit of 1 MiB"},
           {{"--config", env_.Path("work")},
            env_.Path("work") + ": the configuration file is a directory"}}) {
    std::vector<std::string> args = c.args;
    args.insert(args.end(), {"models", "catalog"});
    CommandResult result = env_.Run(args);
    EXPECT_EQ(result.exit_code, 2) << c.args[1] << ": " << result.err;
    EXPECT_THAT(result.err, HasSubstr("error: " + c.expected)) << c.args[1];
    EXPECT_THAT(result.err, HasSubstr("hint: ")) << c.args[1];
  }
  // The user's own file too, and pool-agent the same way.
  std::filesystem::create_directories(env_.Path("config/llorch"));
  ASSERT_EQ(mkfifo(env_.Path("config/llorch/pool.toml").c_str(), 0600), 0);
  for (const std::string binary : {"llorch-pool", "pool-agent"}) {
    std::vector<std::string> args;
    if (binary == "llorch-pool") args = {"agent", "info"};
    CommandResult result = env_.Run(args, binary);
    EXPECT_EQ(result.exit_code, 2) << binary << ": " << result.err;
    EXPECT_THAT(result.err, HasSubstr("pool.toml: the configuration file is a FIFO")) << binary;
  }
}

TEST_F(CliE2eTest, ModelsDirComesFromConfigEnvAndFlagInThatOrder) {
  env_.env().erase("LLORCH_MODELS_DIR");
  WriteFile(env_.Path("config/llorch/pool.toml"),
            "models_dir = \"" + env_.Path("from-file") + "\"\n");
  auto models_dir = [&](const std::vector<std::string>& extra) {
    std::vector<std::string> args = {"agent", "info", "-o", "json"};
    args.insert(args.end(), extra.begin(), extra.end());
    CommandResult result = env_.Run(args);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return nlohmann::json::parse(result.out)["models_dir"].get<std::string>();
  };
  EXPECT_EQ(models_dir({}), env_.Path("from-file"));
  env_.env()["LLORCH_MODELS_DIR"] = env_.Path("from-env");
  EXPECT_EQ(models_dir({}), env_.Path("from-env"));
  EXPECT_EQ(models_dir({"--models-dir", env_.Path("from-flag")}), env_.Path("from-flag"));
}

TEST_F(CliE2eTest, OutsideACheckoutModelsGoToTheDataDirNotToTheWorkingDirectory) {
  env_.env().erase("LLORCH_MODELS_DIR");
  env_.env()["XDG_DATA_HOME"] = env_.Path("data");
  // Root's models live beside the system agent's state; anyone else's in the XDG data dir.
  const std::string expected =
      geteuid() == 0 ? "/var/lib/llorch/models" : env_.Path("data/llorch/models");
  CommandResult info = env_.Run({"agent", "info", "-o", "json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_EQ(nlohmann::json::parse(info.out)["models_dir"], expected);
  CommandResult list = env_.Run({"models", "list"});
  EXPECT_THAT(list.out, HasSubstr(" in " + expected));
  EXPECT_FALSE(std::filesystem::exists(env_.Path("work/.test-models")));

  // A relative models_dir still means the working directory: the user asked for it.
  CommandResult relative = env_.Run({"--models-dir", "mine", "agent", "info", "-o", "json"});
  ASSERT_EQ(relative.exit_code, 0) << relative.err;
  EXPECT_EQ(nlohmann::json::parse(relative.out)["models_dir"], env_.Path("work/mine"));
}

TEST_F(CliE2eTest, ListShowsModelsPartialsUnknownFilesAndFreeSpace) {
  CommandResult empty = env_.Run({"models", "list"});
  ASSERT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_THAT(empty.out, HasSubstr("No models in " + env_.models_dir()));
  EXPECT_THAT(empty.out, HasSubstr("free of"));

  WriteFile(env_.models_dir() + "/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf", std::string(2000, 'x'));
  WriteFile(env_.models_dir() + "/phi3/.llorch/Phi-3-mini-4k-instruct-q4.gguf.partial", "12");
  WriteFile(env_.models_dir() + "/mystery/model.gguf", "1234");
  CommandResult result = env_.Run({"models", "list"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out, HasSubstr("qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf"));
  EXPECT_THAT(result.out, HasSubstr("2.00 kB"));
  EXPECT_THAT(result.out, HasSubstr("unverified"));
  EXPECT_THAT(result.out,
              HasSubstr("phi3/.llorch/Phi-3-mini-4k-instruct-q4.gguf.partial (partial)"));
  EXPECT_THAT(result.out, HasSubstr("(unknown)"));
  EXPECT_THAT(result.out, HasSubstr("mystery/model.gguf"));
  EXPECT_THAT(result.out, HasSubstr("Total 2.01 kB"));

  CommandResult json = env_.Run({"models", "list", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  EXPECT_EQ(parsed["models"].size(), 2u);
  EXPECT_EQ(parsed["unknown_files"][0]["path"], "mystery/model.gguf");
  EXPECT_GT(parsed["disk"]["free_bytes"].get<uint64_t>(), 0u);

  CommandResult du = env_.Run({"models", "du"});
  ASSERT_EQ(du.exit_code, 0) << du.err;
  EXPECT_THAT(du.out, HasSubstr("TOTAL"));
  EXPECT_THAT(du.out, HasSubstr("2.01 kB"));
}

// A symlinked model file and a symlinked model directory are shown as what they are, in the
// table and in JSON, never as "unverified" or 0 B, and a delete never removes through them.
TEST_F(CliE2eTest, SymlinkedModelFilesAndDirsAreListedAsWhatTheyAreAndNeverDeletedThrough) {
  namespace fs = std::filesystem;
  const std::string outside_file = env_.Path("elsewhere/tiny.gguf");
  const std::string outside_dir = env_.Path("elsewhere/phi3");
  WriteFile(outside_file, std::string(3000, 'x'));
  WriteFile(outside_dir + "/Phi-3-mini-4k-instruct-q4.gguf", "precious");
  const std::string tiny = env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf";
  fs::create_directories(fs::path(tiny).parent_path());
  fs::create_symlink(outside_file, tiny);
  fs::create_directory_symlink(outside_dir, env_.models_dir() + "/phi3");

  CommandResult table = env_.Run({"models", "list"});
  ASSERT_EQ(table.exit_code, 0) << table.err;
  EXPECT_THAT(table.out, HasSubstr("tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf -> " +
                                   outside_file + " (symlink, not followed)"));
  EXPECT_THAT(table.out, HasSubstr("phi3 -> " + outside_dir + " (symlink, not followed)"));
  EXPECT_THAT(table.out, HasSubstr("refused"));
  EXPECT_THAT(table.out, Not(HasSubstr("unverified")));
  EXPECT_THAT(table.out, Not(HasSubstr(" 0 B\n")));  // no file row claims a size
  EXPECT_THAT(table.out, HasSubstr("Refused (symlinks are never followed):"));
  EXPECT_THAT(table.out, HasSubstr("phi3: " + env_.models_dir() + "/phi3 is a symlink (to " +
                                   outside_dir + ")"));

  CommandResult json = env_.Run({"models", "list", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  nlohmann::json parsed = nlohmann::json::parse(json.out);
  ASSERT_EQ(parsed["models"].size(), 2u);
  for (const auto& model : parsed["models"]) {
    EXPECT_EQ(model["state"], "DOWNLOAD_STATE_REFUSED") << model;
    EXPECT_THAT(model["refused"].get<std::string>(), HasSubstr("is a symlink (to ")) << model;
  }
  EXPECT_EQ(parsed["models"][0]["id"], "tinyllama");
  EXPECT_EQ(parsed["models"][0]["files"][0]["symlink_target"], outside_file);
  EXPECT_EQ(parsed["models"][1]["files"][0]["symlink_target"], outside_dir);

  CommandResult catalog = env_.Run({"models", "catalog", "phi3", "-o", "json"});
  ASSERT_EQ(catalog.exit_code, 0) << catalog.err;
  EXPECT_EQ(nlohmann::json::parse(catalog.out)["entries"][0]["state"], "DOWNLOAD_STATE_REFUSED");

  CommandResult refused = env_.Run({"models", "delete", "phi3", "--force"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.err, HasSubstr("phi3 is a symlink (to " + outside_dir + ")"));
  EXPECT_EQ(ReadFileBytes(outside_dir + "/Phi-3-mini-4k-instruct-q4.gguf"), "precious");
  CommandResult deleted = env_.Run({"models", "delete", "tinyllama", "--force"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_FALSE(fs::exists(fs::symlink_status(tiny)));
  EXPECT_EQ(ReadFileBytes(outside_file), std::string(3000, 'x'));
}

TEST_F(CliE2eTest, VerifyAllChecksAModelWhoseFileVanishedButWhoseManifestRemains) {
  WriteFile(env_.models_dir() + "/qwen/.llorch/qwen2.5-0.5b-instruct-q4_k_m.gguf.manifest.json",
            R"({"size": 4, "sha256": "ab"})");
  CommandResult result = env_.Run({"models", "verify", "--all"});
  EXPECT_EQ(result.exit_code, 1) << result.err;
  EXPECT_THAT(result.out, HasSubstr("the model file is missing"));
  EXPECT_THAT(result.out, HasSubstr("1 of 1 models failed verification"));
}

// "downloaded" means verified: a verify that finds other bytes than the manifest's takes that
// back, for every view, until a download replaces the file.
TEST_F(CliE2eTest, AVerifyThatFindsOtherBytesTakesBackDownloaded) {
  const std::string file = env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf";
  const std::string manifest =
      env_.models_dir() + "/tinyllama/.llorch/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf.manifest.json";
  WriteFile(file, "GGUF");
  WriteFile(manifest, R"({"size": 4, "sha256": ")" + std::string(64, '0') + R"("})");
  auto state = [&] {
    CommandResult catalog = env_.Run({"models", "catalog", "tinyllama", "-o", "json"});
    EXPECT_EQ(catalog.exit_code, 0) << catalog.err;
    return nlohmann::json::parse(catalog.out)["entries"][0]["state"].get<std::string>();
  };
  ASSERT_EQ(state(), "DOWNLOAD_STATE_DOWNLOADED");

  CommandResult verify = env_.Run({"models", "verify", "tinyllama"});
  EXPECT_EQ(verify.exit_code, 1) << verify.err;
  EXPECT_THAT(verify.out, HasSubstr("the manifest is withdrawn"));
  EXPECT_THAT(verify.out, HasSubstr("llorch-pool models download tinyllama"));
  EXPECT_EQ(state(), "DOWNLOAD_STATE_UNVERIFIED");
  EXPECT_FALSE(std::filesystem::exists(manifest));
  EXPECT_TRUE(std::filesystem::exists(file));
}

TEST_F(CliE2eTest, DeleteRemovesOnlyThatModelAndAsksFirst) {
  const std::string q4 = env_.models_dir() + "/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf";
  const std::string fp16 = env_.models_dir() + "/qwen/qwen2.5-0.5b-instruct-fp16.gguf";
  WriteFile(q4, "q4");
  WriteFile(fp16, "fp16");
  // No terminal and no --force: refuse, touch nothing.
  CommandResult refused = env_.Run({"models", "delete", "qwen-fp16"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("without confirmation"));
  EXPECT_THAT(refused.err, HasSubstr("--force"));
  EXPECT_TRUE(std::filesystem::exists(fp16));

  CommandResult deleted = env_.Run({"models", "delete", "qwen-fp16", "--force"});
  ASSERT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_THAT(deleted.out, HasSubstr("Deleted qwen-fp16: 1 file, 4 B freed."));
  EXPECT_FALSE(std::filesystem::exists(fp16));
  EXPECT_TRUE(std::filesystem::exists(q4));

  CommandResult again = env_.Run({"models", "delete", "qwen-fp16", "--force"});
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_THAT(again.out, HasSubstr("Nothing of qwen-fp16 is on disk."));
}

// Several ids: one question for all (or --force), each tried even when one fails, a row each.
TEST_F(CliE2eTest, DeleteOfSeveralModelsTriesEachAndSaysWhatHappened) {
  const std::string q4 = env_.models_dir() + "/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf";
  const std::string fp16 = env_.models_dir() + "/qwen/qwen2.5-0.5b-instruct-fp16.gguf";
  WriteFile(q4, "q4");
  WriteFile(fp16, "fp16");
  CommandResult refused = env_.Run({"models", "delete", "qwen", "qwen-fp16"});
  EXPECT_EQ(refused.exit_code, 2);
  EXPECT_THAT(refused.err, HasSubstr("llorch-pool models delete qwen qwen-fp16 --force"));
  EXPECT_TRUE(std::filesystem::exists(q4));

  CommandResult deleted =
      env_.Run({"models", "delete", "qwen", "nosuch", "tinyllama", "qwen-fp16", "--force"});
  EXPECT_EQ(deleted.exit_code, 1);
  EXPECT_FALSE(std::filesystem::exists(q4));
  EXPECT_FALSE(std::filesystem::exists(fp16));
  EXPECT_THAT(deleted.err, HasSubstr("error: unknown model 'nosuch'"));
  EXPECT_THAT(deleted.out, ::testing::ContainsRegex("\nqwen +deleted +1 +2 B\n"));
  EXPECT_THAT(deleted.out, ::testing::ContainsRegex("\ntinyllama +nothing on disk +0 +0 B\n"));
  EXPECT_THAT(deleted.out, ::testing::ContainsRegex("\nqwen-fp16 +deleted +1 +4 B\n"));
  EXPECT_THAT(deleted.out, ::testing::ContainsRegex("\nnosuch +failed +unknown model 'nosuch'"));
  EXPECT_THAT(deleted.out, HasSubstr("1 of 4 models failed; 2 files deleted, 6 B freed\n"));

  CommandResult json = env_.Run({"models", "delete", "qwen", "nosuch", "--force", "-o", "json"});
  EXPECT_EQ(json.exit_code, 1);
  const nlohmann::json document = nlohmann::json::parse(json.out);
  ASSERT_EQ(document["models"].size(), 1u) << json.out;
  EXPECT_EQ(document["models"][0]["id"], "qwen");
  EXPECT_EQ(document["models"][0]["freed_bytes"], 0);
  EXPECT_EQ(document["failed"][0]["id"], "nosuch");
  EXPECT_EQ(document["failed"][0]["reason"], "MODEL_NOT_FOUND");
}

// On a terminal COLUMNS wide, tables fit: the widest column is cut with "…"; -o wide and a
// pipe (no COLUMNS) keep every cell whole. --no-headers leaves the header out; key/value views
// have none.
TEST_F(CliE2eTest, TablesFitTheTerminalWidth) {
  env_.env()["COLUMNS"] = "80";
  CommandResult fitted = env_.Run({"models", "catalog"});
  ASSERT_EQ(fitted.exit_code, 0) << fitted.err;
  const std::string table = fitted.out.substr(0, fitted.out.find("\n\n"));
  std::istringstream rows(table);
  for (std::string line; std::getline(rows, line);) {
    EXPECT_LE(DisplayWidth(line), 80u) << line;
  }
  EXPECT_THAT(table, HasSubstr("…"));
  EXPECT_THAT(table, Not(HasSubstr("PINNED")));  // no lock file, no pins
  EXPECT_THAT(table, Not(HasSubstr("https://huggingface.co/openai-community/gpt2")));
  // Notes wrap rather than run past the edge.
  const std::string notes = fitted.out.substr(fitted.out.find("\n\n"));
  std::istringstream note_lines(notes);
  for (std::string line; std::getline(note_lines, line);) {
    if (line.rfind("Models directory:", 0) != 0) {
      EXPECT_LE(DisplayWidth(line), 80u) << line;
    }
  }

  CommandResult wide = env_.Run({"models", "catalog", "-o", "wide"});
  ASSERT_EQ(wide.exit_code, 0) << wide.err;
  EXPECT_THAT(wide.out, HasSubstr("https://huggingface.co/openai-community/gpt2\n"));
  env_.env().erase("COLUMNS");
  EXPECT_THAT(env_.Run({"models", "catalog"}).out,
              HasSubstr("https://huggingface.co/openai-community/gpt2\n"));

  CommandResult bare = env_.Run({"models", "catalog", "--no-headers"});
  ASSERT_EQ(bare.exit_code, 0) << bare.err;
  EXPECT_EQ(bare.out.rfind(kModelIds.front() + " ", 0), 0u) << bare.out;  // no "ID ..." line
  CommandResult info = env_.Run({"models", "info", "tinyllama"});
  EXPECT_EQ(info.out.rfind("id ", 0), 0u) << info.out;
  EXPECT_THAT(info.out, Not(HasSubstr("FIELD")));
}

TEST_F(CliE2eTest, InfoShowsCatalogDataFilesAndGgufMetadata) {
  testing::GgufBuilder gguf(3);
  gguf.AddString("general.architecture", "llama");
  gguf.AddString("general.name", "TinyLlama");
  gguf.AddUint32("llama.context_length", 2048);
  gguf.AddUint32("llama.embedding_length", 2048);
  gguf.AddUint32("llama.block_count", 22);
  gguf.AddUint32("general.file_type", 15);
  gguf.AddTensor("token_embd.weight", {2048, 32000});
  WriteFile(env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", gguf.Build());
  CommandResult result = env_.Run({"models", "info", "tinyllama"});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_THAT(result.out,
              HasSubstr("https://huggingface.co/TheBloke/TinyLlama-1.1B-Chat-v1.0-GGUF"));
  EXPECT_THAT(result.out, HasSubstr("unverified"));
  EXPECT_THAT(result.out, HasSubstr("llama"));
  EXPECT_THAT(result.out, HasSubstr("Q4_K_M"));
  EXPECT_THAT(result.out, HasSubstr("65536000"));  // parameters counted from the tensor shape

  CommandResult absent = env_.Run({"models", "info", "mistral", "-o", "json"});
  ASSERT_EQ(absent.exit_code, 0) << absent.err;
  nlohmann::json json = nlohmann::json::parse(absent.out);
  EXPECT_EQ(json["entry"]["state"], "DOWNLOAD_STATE_NOT_DOWNLOADED");
  EXPECT_FALSE(json.contains("gguf") && !json["gguf"].is_null());
}

// Strings in a GGUF file or a file name need not be UTF-8; what the agent sends always is
// (bytes that are not become U+FFFD), so every answer arrives, as a table and as JSON.
// Arguments are the user's own: one that is not UTF-8 is refused at once.
TEST_F(CliE2eTest, BytesThatAreNotUtf8ArriveAsReplacementCharacters) {
  const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD
  testing::GgufBuilder gguf(3);
  gguf.AddString("general.architecture", "llama\xff");
  gguf.AddString("general.name", "Tiny\xff\xfeLlama");
  gguf.AddTensor("token_embd.weight", {16, 16});
  WriteFile(env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", gguf.Build());
  WriteFile(env_.models_dir() + "/odd\xff\xfe/x.gguf", "GGUF");
  const std::string name = "Tiny" + kReplacement + kReplacement + "Llama";
  const std::string odd_file = "odd" + kReplacement + kReplacement + "/x.gguf";

  CommandResult info = env_.Run({"models", "info", "tinyllama"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr(name));
  EXPECT_THAT(info.out, HasSubstr("llama" + kReplacement));
  CommandResult info_json = env_.Run({"models", "info", "tinyllama", "-o", "json"});
  ASSERT_EQ(info_json.exit_code, 0) << info_json.err;
  EXPECT_EQ(nlohmann::json::parse(info_json.out)["gguf"]["name"], name);

  CommandResult list = env_.Run({"models", "list"});
  ASSERT_EQ(list.exit_code, 0) << list.err;
  EXPECT_THAT(list.out, HasSubstr(odd_file));
  CommandResult list_json = env_.Run({"models", "list", "-o", "json"});
  ASSERT_EQ(list_json.exit_code, 0) << list_json.err;
  EXPECT_EQ(nlohmann::json::parse(list_json.out)["unknown_files"][0]["path"], odd_file);
  EXPECT_EQ(env_.Run({"models", "du"}).exit_code, 0);

  // A models dir whose own name is not UTF-8 (set in the environment) works, shown replaced.
  const std::string odd_dir = env_.Path("models\xff");
  WriteFile(odd_dir + "/qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf", "GGUF");
  env_.env()["LLORCH_MODELS_DIR"] = odd_dir;
  for (const std::string command : {"list", "du", "catalog"}) {
    CommandResult result = env_.Run({"models", command, "-o", "json"});
    ASSERT_EQ(result.exit_code, 0) << command << ": " << result.err;
    EXPECT_NO_THROW(nlohmann::json::parse(result.out)) << command;
  }
  CommandResult odd_list = env_.Run({"models", "list"});
  ASSERT_EQ(odd_list.exit_code, 0) << odd_list.err;
  EXPECT_THAT(odd_list.out, HasSubstr(env_.Path("models") + kReplacement));
  EXPECT_THAT(odd_list.out, HasSubstr("qwen/qwen2.5-0.5b-instruct-q4_k_m.gguf"));
  EXPECT_EQ(env_.Run({"models", "info", "qwen"}).exit_code, 0);

  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"models", "info", "tiny\xff"},
           {"--models-dir", env_.Path("m\xfe"), "models", "list"}}) {
    CommandResult refused = env_.Run(args);
    EXPECT_EQ(refused.exit_code, 2) << refused.err;
    EXPECT_THAT(refused.err, HasSubstr("is not valid UTF-8"));
    EXPECT_THAT(refused.err, HasSubstr("hint: "));
  }
}

// Text from a file is shown, not obeyed: control characters in a GGUF's strings appear as visible
// escapes in text output (they cannot clear the screen, set the terminal's title or forge a
// line), our own colours still work, and JSON keeps the exact strings.
TEST_F(CliE2eTest, ControlCharactersFromAGgufAreShownNotObeyed) {
  const std::string hostile = "\x1b[2J\x1b]0;owned\x07Tiny\r\nforged line";
  testing::GgufBuilder gguf(3);
  gguf.AddString("general.architecture", "llama\xe2\x80\xae");  // U+202E, right-to-left override
  gguf.AddString("general.name", hostile);
  gguf.AddTensor("token_embd.weight", {16, 16});
  WriteFile(env_.models_dir() + "/tinyllama/tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf", gguf.Build());
  WriteFile(env_.Path("config/llorch/pool.toml"), "[client]\ncolor = \"always\"\n");

  CommandResult info = env_.Run({"models", "info", "tinyllama"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  EXPECT_THAT(info.out, HasSubstr(R"(\x1b[2J\x1b]0;owned\x07Tiny\r\nforged line)"));
  EXPECT_THAT(info.out, HasSubstr(R"(llama\u202e)"));
  EXPECT_THAT(info.out, HasSubstr("\x1b[1mtinyllama\x1b[0m"));  // our bold id
  // Without our colour codes (ESC [ digits m), no escape character and no carriage return is left,
  // and no line starts with the forged text.
  std::string plain = info.out;
  for (size_t at = plain.find('\x1b'); at != std::string::npos; at = plain.find('\x1b', at)) {
    const size_t end = plain.find_first_not_of("0123456789", at + 2);
    if (plain.compare(at, 2, "\x1b[") == 0 && end != std::string::npos && plain[end] == 'm') {
      plain.erase(at, end + 1 - at);
    } else {
      ++at;
    }
  }
  EXPECT_EQ(plain.find('\x1b'), std::string::npos) << plain;
  EXPECT_EQ(plain.find('\r'), std::string::npos) << plain;
  EXPECT_EQ(plain.find("\xe2\x80\xae"), std::string::npos) << plain;
  EXPECT_THAT(plain, Not(HasSubstr("\nforged line")));

  CommandResult json = env_.Run({"models", "info", "tinyllama", "-o", "json"});
  ASSERT_EQ(json.exit_code, 0) << json.err;
  EXPECT_EQ(nlohmann::json::parse(json.out)["gguf"]["name"], hostile);
}

// A result that did not reach stdout is a failure: a full disk or a closed stdout exits 1 and
// says so on stderr. A reader that went away (`| head`) is not worth a message.
TEST_F(CliE2eTest, OutputThatCannotBeWrittenExitsOneWithAMessage) {
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"models", "catalog"}, {"models", "catalog", "-o", "json"}, {"--help"}}) {
    CommandOptions full;
    full.stdout_target = StdoutTarget::kFile;
    full.stdout_file = "/dev/full";
    CommandResult on_full = env_.Run(args, "llorch-pool", full);
    EXPECT_EQ(on_full.exit_code, 1) << args[0];
    EXPECT_EQ(on_full.err, "error: cannot write output: No space left on device\n") << args[0];

    CommandOptions closed;
    closed.stdout_target = StdoutTarget::kClosed;
    CommandResult on_closed = env_.Run(args, "llorch-pool", closed);
    EXPECT_EQ(on_closed.exit_code, 1) << args[0];
    EXPECT_EQ(on_closed.err, "error: cannot write output: Bad file descriptor\n") << args[0];

    CommandOptions pipe;
    pipe.stdout_target = StdoutTarget::kBrokenPipe;
    CommandResult on_pipe = env_.Run(args, "llorch-pool", pipe);
    EXPECT_EQ(on_pipe.exit_code, 141) << args[0];  // as if killed by SIGPIPE, like cat
    EXPECT_EQ(on_pipe.err, "") << args[0];
  }
}

TEST_F(CliE2eTest, VersionNamesTheApi) {
  CommandResult result = env_.Run({"--version"});
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_THAT(result.out, HasSubstr("llorch-pool 0.1.0 (API llorch.pool.v1)"));
}

}  // namespace
}  // namespace llorch::testing
