#include "client/completion.h"

#include <chrono>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "client/render/operation_views.h"
#include "client/render/worker_views.h"
#include "client/session.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "llorch/pool/v1/worker.grpc.pb.h"

namespace llorch {
namespace v1 = pool::v1;
namespace {

// Ids are asked for while the user waits at a prompt.
constexpr std::chrono::seconds kIdTimeout(2);

bool IsVisible(const CLI::App* command) { return !command->get_group().empty(); }

const CLI::App* VisibleSubcommand(const CLI::App* command, const std::string& name) {
  for (const CLI::App* sub : command->get_subcommands([](const CLI::App*) { return true; })) {
    if (IsVisible(sub) && sub->get_name() == name) return sub;
  }
  return nullptr;
}

// A command that runs, rather than a group of commands.
bool IsLeaf(const CLI::App* command) {
  return command->get_subcommands([](const CLI::App* sub) { return IsVisible(sub); }).empty();
}

// The option `flag` names ("--output", "-o") on `command` or a command above it.
const CLI::Option* FindFlag(const CLI::App* command, const std::string& flag) {
  for (const CLI::App* c = command; c != nullptr; c = c->get_parent()) {
    if (const CLI::Option* option = c->get_option_no_throw(flag)) return option;
  }
  return nullptr;
}

// Descriptions are one line in every shell.
std::string OneLine(std::string text) {
  const size_t end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  return absl::StrReplaceAll(text, {{"\t", " "}});
}

// One unary call for candidates: false, quietly, when no agent answers in time.
template <typename Service, typename Request, typename Response>
bool AskAgent(Session& session,
              grpc::Status (Service::Stub::*method)(grpc::ClientContext*, const Request&,
                                                    Response*),
              const Request& request, Response* response) {
  absl::StatusOr<std::shared_ptr<grpc::Channel>> channel = session.Channel();
  if (!channel.ok()) return false;
  auto stub = Service::NewStub(*channel);
  return ((*stub).*method)(session.NewCallContext(kIdTimeout).get(), request, response).ok();
}

}  // namespace

CompletionPoint LocateCompletion(const CLI::App& root, const std::vector<std::string>& words) {
  CompletionPoint point;
  point.command = &root;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    point.option = nullptr;
    if (absl::StartsWith(word, "-")) {
      if (word.find('=') != std::string::npos) continue;  // --output=json: value given
      const CLI::Option* option = FindFlag(point.command, word);
      if (option == nullptr || option->get_expected_min() == 0) continue;  // a flag
      if (i + 1 == words.size()) {
        point.option = option;  // the word being typed is its value
      } else {
        ++i;
      }
    } else if (const CLI::App* sub = VisibleSubcommand(point.command, word)) {
      point.command = sub;
    } else if (!IsLeaf(point.command)) {
      return {};  // a word that is no command of this group: nothing follows it
    }
  }
  return point;
}

std::vector<std::string> GlobalFlagsAmong(const CLI::App& root,
                                          const std::vector<std::string>& words) {
  std::vector<std::string> flags;
  for (size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (!absl::StartsWith(word, "-") || word == "-" || word == "--") continue;
    const size_t equals = word.find('=');
    const CLI::Option* option = root.get_option_no_throw(word.substr(0, equals));
    if (option == nullptr || option == root.get_help_ptr() || option == root.get_help_all_ptr() ||
        option == root.get_version_ptr()) {
      continue;
    }
    if (equals == std::string::npos && option->get_expected_min() > 0) {
      if (i + 1 == words.size()) break;  // its value is the word being typed
      flags.push_back(word);
      flags.push_back(words[++i]);
    } else {
      flags.push_back(word);
    }
  }
  return flags;
}

std::vector<Candidate> TreeCandidates(const CompletionPoint& point, absl::string_view current) {
  std::vector<Candidate> candidates;
  if (point.command == nullptr || point.option != nullptr) return candidates;
  if (absl::StartsWith(current, "-")) {
    // Every command has its own --help: offer the nearest of each name once.
    std::set<std::string> offered;
    for (const CLI::App* c = point.command; c != nullptr; c = c->get_parent()) {
      for (const CLI::Option* option : c->get_options()) {
        if (!option->nonpositional()) continue;
        const std::string description = OneLine(option->get_description());
        std::vector<std::string> names;
        for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
        for (const std::string& name : option->get_snames()) names.push_back("-" + name);
        for (std::string& name : names) {
          if (offered.insert(name).second) candidates.push_back({std::move(name), description});
        }
      }
    }
    return candidates;
  }
  for (const CLI::App* sub : point.command->get_subcommands([](const CLI::App*) { return true; })) {
    if (IsVisible(sub)) candidates.push_back({sub->get_name(), OneLine(sub->get_description())});
  }
  return candidates;
}

std::string FormatCandidates(const std::vector<Candidate>& candidates, absl::string_view current) {
  std::string out;
  for (const Candidate& candidate : candidates) {
    if (!absl::StartsWith(candidate.value, current)) continue;
    absl::StrAppend(&out, candidate.value, "\t", candidate.description, "\n");
  }
  return out;
}

std::string CompletionScript(absl::string_view shell) {
  if (shell == "bash") {
    return R"(# bash completion for llorch-pool. Load it with
#   source <(llorch-pool completion bash)
# or save it as /usr/share/bash-completion/completions/llorch-pool.
_llorch_pool() {
  local line
  COMPREPLY=()
  while IFS= read -r line; do
    COMPREPLY+=("${line%%$'\t'*}")
  done < <("${COMP_WORDS[0]}" __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null)
}
complete -o default -F _llorch_pool llorch-pool
)";
  }
  if (shell == "zsh") {
    return R"(#compdef llorch-pool
# zsh completion for llorch-pool. Load it with
#   source <(llorch-pool completion zsh)
# (after compinit), or save it as _llorch-pool in a directory of $fpath.
_llorch_pool() {
  local -a candidates
  local line
  for line in "${(@f)$("${words[1]}" __complete "${(@)words[2,CURRENT]}" 2>/dev/null)}"; do
    [[ -n $line ]] || continue
    candidates+=("${${line%%$'\t'*}//:/\\:}:${line#*$'\t'}")
  done
  _describe -t values llorch-pool candidates
}
compdef _llorch_pool llorch-pool
)";
  }
  if (shell == "fish") {
    return R"(# fish completion for llorch-pool. Load it with
#   llorch-pool completion fish | source
# or save it as ~/.config/fish/completions/llorch-pool.fish.
function __llorch_pool_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    $words[1] __complete $words[2..-1] "$current" 2>/dev/null
end
complete -c llorch-pool -f -a '(__llorch_pool_complete)'
)";
  }
  return "";
}

std::vector<Candidate> ModelIdCandidates(Session& session) {
  std::vector<Candidate> candidates;
  v1::ListCatalogResponse response;
  if (!AskAgent<v1::ModelService>(session, &v1::ModelService::Stub::ListCatalog,
                                  v1::ListCatalogRequest(), &response)) {
    return candidates;
  }
  for (const v1::CatalogEntry& entry : response.entries()) {
    candidates.push_back({entry.model().id(), entry.model().name()});
  }
  return candidates;
}

std::vector<Candidate> OperationIdCandidates(Session& session) {
  std::vector<Candidate> candidates;
  v1::ListOperationsResponse response;
  if (!AskAgent<v1::OperationService>(session, &v1::OperationService::Stub::ListOperations,
                                      v1::ListOperationsRequest(), &response)) {
    return candidates;
  }
  for (const v1::Operation& operation : response.operations()) {
    candidates.push_back(
        {operation.id(), absl::StrCat(operation.kind(), " ", operation.target(), " (",
                                      StateCell(operation.state()).text, ")")});
  }
  return candidates;
}

std::vector<Candidate> WorkerIdCandidates(Session& session) {
  std::vector<Candidate> candidates;
  v1::ListWorkersRequest request;
  request.set_include_exited(true);
  v1::ListWorkersResponse response;
  if (!AskAgent<v1::WorkerService>(session, &v1::WorkerService::Stub::ListWorkers, request,
                                   &response)) {
    return candidates;
  }
  for (const v1::Worker& worker : response.workers()) {
    candidates.push_back(
        {worker.id(), absl::StrCat(worker.model_id(), " (", WorkerStateText(worker), ")")});
  }
  return candidates;
}

}  // namespace llorch
