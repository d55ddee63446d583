// Shell completion. `llorch-pool completion bash|zsh|fish` prints a small script that asks the
// CLI itself what to offer, so the three shells complete alike and nothing is kept in sync by
// hand: the script runs `llorch-pool __complete WORD... CURRENT`, which prints one candidate a
// line, "value<TAB>description", for CURRENT (the word being typed, maybe empty) after WORDs.
// Commands and flags come from the command tree; ids (models, operations) from the agent, through
// the sources the command groups register (CommandLine::CompleteWith).
#ifndef LLORCH_CLIENT_COMPLETION_H_
#define LLORCH_CLIENT_COMPLETION_H_

#include <functional>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"

namespace llorch {

class Session;

struct Candidate {
  std::string value;
  std::string description;
};

// What the values of a positional argument or an option can be; empty when it cannot say (no
// agent answers): completion never prints an error.
using CandidateSource = std::function<std::vector<Candidate>(Session&)>;

// Where the word being typed goes: a flag or subcommand of `command`, one of its positional
// arguments, or (when `option` is set) the value of that option. No command: nowhere (it follows
// a word that names no command).
struct CompletionPoint {
  const CLI::App* command = nullptr;
  const CLI::Option* option = nullptr;
};

// Follows `words` (the command line after the program's name, without the word being typed)
// from `root` through subcommands and options that take a value.
CompletionPoint LocateCompletion(const CLI::App& root, const std::vector<std::string>& words);

// The global options among `words` (those of `root` itself, with their values), so that the
// agent asked for ids is the one the command line being completed names (`--agent HOST:PORT`,
// `--standalone`, `--token-file F`); --help and --version are left out.
std::vector<std::string> GlobalFlagsAmong(const CLI::App& root,
                                          const std::vector<std::string>& words);

// The subcommands of point.command, or with `current` starting with '-' its flags and those of
// the commands above it. Hidden commands are not offered.
std::vector<Candidate> TreeCandidates(const CompletionPoint& point, absl::string_view current);

// The candidates that start with `current`, one "value\tdescription" a line.
std::string FormatCandidates(const std::vector<Candidate>& candidates, absl::string_view current);

// The script for `shell` ("bash", "zsh" or "fish"); "" for another.
std::string CompletionScript(absl::string_view shell);

// Sources for ids: the catalog's model ids; the agent's operations (newest first); the recorded
// workers, exited ones too.
std::vector<Candidate> ModelIdCandidates(Session& session);
std::vector<Candidate> OperationIdCandidates(Session& session);
std::vector<Candidate> WorkerIdCandidates(Session& session);

}  // namespace llorch

#endif  // LLORCH_CLIENT_COMPLETION_H_
