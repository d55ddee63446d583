#include "common/config.h"

#include <algorithm>
#include <cstdio>
#include <string_view>
#include <tuple>
#include <utility>

// toml++ is used with exceptions on (its default, and how Debian's shared library is built):
// toml::parse_error is caught below and never leaves this file.
#include <toml++/toml.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/address.h"
#include "common/file_read.h"
#include "common/status.h"
#include "common/strings.h"
#include "common/worker_template.h"

namespace llorch {
namespace {

constexpr char kDocsHint[] =
    "docs/configuration.md lists every key with its type and allowed values";

// One configuration key: where it lives in Config and which values it takes.
struct KeySpec {
  const char* key;                             // dotted name
  std::string* (*text)(Config&);               // string keys
  std::vector<std::string>* (*list)(Config&);  // array-of-string keys
  std::vector<std::string> allowed;            // empty = any string
  int64_t* (*integer)(Config&) = nullptr;      // integer keys, within [min, max]
  int64_t min = 0;
  int64_t max = 0;
};

KeySpec IntegerKey(const char* key, int64_t* (*integer)(Config&), int64_t min, int64_t max) {
  return KeySpec{key, nullptr, nullptr, {}, integer, min, max};
}

const std::vector<KeySpec>& Specs() {
  static const std::vector<std::string> kReadyWays = {"callback", "health"};
  static const std::vector<std::string> kStopSignals = {"SIGINT", "SIGTERM", "SIGQUIT", "SIGHUP"};
  static const std::vector<KeySpec> specs = {
      {"repo_root", [](Config& c) { return &c.repo_root; }, nullptr, {}},
      {"models_dir", [](Config& c) { return &c.models_dir; }, nullptr, {}},
      {"state_dir", [](Config& c) { return &c.state_dir; }, nullptr, {}},
      {"catalog", [](Config& c) { return &c.catalog; }, nullptr, {}},
      {"catalog_lock", [](Config& c) { return &c.catalog_lock; }, nullptr, {}},
      {"agent.address", [](Config& c) { return &c.agent.address; }, nullptr, {}},
      {"agent.listen", nullptr, [](Config& c) { return &c.agent.listen; }, {}},
      {"agent.log_level",
       [](Config& c) { return &c.agent.log_level; },
       nullptr,
       {"trace", "debug", "info", "warn", "error", "off"}},
      {"agent.log_format",
       [](Config& c) { return &c.agent.log_format; },
       nullptr,
       {"text", "json"}},
      {"agent.socket_group", [](Config& c) { return &c.agent.socket_group; }, nullptr, {}},
      {"agent.read_only_socket", [](Config& c) { return &c.agent.read_only_socket; }, nullptr, {}},
      {"agent.read_only_group", [](Config& c) { return &c.agent.read_only_group; }, nullptr, {}},
      {"agent.admin_token_file", [](Config& c) { return &c.agent.admin_token_file; }, nullptr, {}},
      {"agent.read_only_token_file",
       [](Config& c) { return &c.agent.read_only_token_file; },
       nullptr,
       {}},
      {"agent.tls_cert_file", [](Config& c) { return &c.agent.tls_cert_file; }, nullptr, {}},
      {"agent.tls_key_file", [](Config& c) { return &c.agent.tls_key_file; }, nullptr, {}},
      {"agent.tls_client_ca_file",
       [](Config& c) { return &c.agent.tls_client_ca_file; },
       nullptr,
       {}},
      {"agent.client_cert_role",
       [](Config& c) { return &c.agent.client_cert_role; },
       nullptr,
       {"read-only", "admin"}},
      IntegerKey(
          "agent.tls_reload_seconds", [](Config& c) { return &c.agent.tls_reload_seconds; }, 1,
          86400),
      IntegerKey(
          "agent.max_streams_per_peer", [](Config& c) { return &c.agent.max_streams_per_peer; }, 1,
          1000),
      {"client.output",
       [](Config& c) { return &c.client.output; },
       nullptr,
       {"table", "wide", "json", "jsonl"}},
      {"client.color",
       [](Config& c) { return &c.client.color; },
       nullptr,
       {"auto", "always", "never"}},
      {"client.token_file", [](Config& c) { return &c.client.token_file; }, nullptr, {}},
      {"client.tls_ca_file", [](Config& c) { return &c.client.tls_ca_file; }, nullptr, {}},
      {"client.tls_cert_file", [](Config& c) { return &c.client.tls_cert_file; }, nullptr, {}},
      {"client.tls_key_file", [](Config& c) { return &c.client.tls_key_file; }, nullptr, {}},
      {"download.backend",
       [](Config& c) { return &c.download.backend; },
       nullptr,
       {"native", "hf"}},
      {"download.hf_command", [](Config& c) { return &c.download.hf_command; }, nullptr, {}},
      IntegerKey(
          "download.connections", [](Config& c) { return &c.download.connections; }, 1, 64),
      IntegerKey(
          "download.parallel_min_mib", [](Config& c) { return &c.download.parallel_min_mib; }, 1,
          int64_t{1} << 30),
      IntegerKey(
          "download.stall_timeout_seconds",
          [](Config& c) { return &c.download.stall_timeout_seconds; }, 1, 3600),
      IntegerKey(
          "download.max_attempts", [](Config& c) { return &c.download.max_attempts; }, 1, 1000),
      {"git.pull_mode",
       [](Config& c) { return &c.git.pull_mode; },
       nullptr,
       {"rebase", "ff-only", "merge"}},
      {"git.sync_branch", [](Config& c) { return &c.git.sync_branch; }, nullptr, {}},
      {"convert.python", [](Config& c) { return &c.convert.python; }, nullptr, {}},
      {"workers.default_model", [](Config& c) { return &c.workers.default_model; }, nullptr, {}},
      IntegerKey(
          "workers.port_first", [](Config& c) { return &c.workers.port_first; }, 1024, 65535),
      IntegerKey(
          "workers.port_last", [](Config& c) { return &c.workers.port_last; }, 1024, 65535),
      IntegerKey(
          "workers.callback_port", [](Config& c) { return &c.workers.callback_port; }, 1024, 65535),
      IntegerKey(
          "workers.ready_timeout_seconds",
          [](Config& c) { return &c.workers.ready_timeout_seconds; }, 1, 86400),
      IntegerKey(
          "workers.stop_timeout_seconds", [](Config& c) { return &c.workers.stop_timeout_seconds; },
          1, 3600),
      IntegerKey(
          "workers.log_max_bytes", [](Config& c) { return &c.workers.log_max_bytes; }, 1024,
          int64_t{1} << 40),
      IntegerKey(
          "workers.log_max_files", [](Config& c) { return &c.workers.log_max_files; }, 1, 100),
      IntegerKey(
          "workers.restart_backoff_initial_ms",
          [](Config& c) { return &c.workers.restart_backoff_initial_ms; }, 1, 3600000),
      IntegerKey(
          "workers.restart_backoff_max_ms",
          [](Config& c) { return &c.workers.restart_backoff_max_ms; }, 1, 3600000),
      IntegerKey(
          "workers.start_limit_burst", [](Config& c) { return &c.workers.start_limit_burst; }, 1,
          1000),
      IntegerKey(
          "workers.start_limit_interval_seconds",
          [](Config& c) { return &c.workers.start_limit_interval_seconds; }, 1, 86400),
      {"workers.cpu.argv", nullptr, [](Config& c) { return &c.workers.cpu.argv; }, {}},
      {"workers.cpu.ready", [](Config& c) { return &c.workers.cpu.ready; }, nullptr, kReadyWays},
      {"workers.cpu.stop_signal", [](Config& c) { return &c.workers.cpu.stop_signal; }, nullptr,
       kStopSignals},
      {"workers.cuda.argv", nullptr, [](Config& c) { return &c.workers.cuda.argv; }, {}},
      {"workers.cuda.ready", [](Config& c) { return &c.workers.cuda.ready; }, nullptr, kReadyWays},
      {"workers.cuda.stop_signal", [](Config& c) { return &c.workers.cuda.stop_signal; }, nullptr,
       kStopSignals},
      {"workers.metal.argv", nullptr, [](Config& c) { return &c.workers.metal.argv; }, {}},
      {"workers.metal.ready", [](Config& c) { return &c.workers.metal.ready; }, nullptr,
       kReadyWays},
      {"workers.metal.stop_signal", [](Config& c) { return &c.workers.metal.stop_signal; }, nullptr,
       kStopSignals},
  };
  return specs;
}

// Records that `source` (at `line` of a file; 0 otherwise) set `key` last.
void SetOrigin(Config* config, absl::string_view key, absl::string_view source, int line) {
  config->origin[std::string(key)] = std::string(source);
  if (line > 0) {
    config->origin_line[std::string(key)] = line;
  } else {
    config->origin_line.erase(std::string(key));
  }
}

const KeySpec* FindSpec(absl::string_view key) {
  for (const KeySpec& spec : Specs()) {
    if (key == spec.key) return &spec;
  }
  return nullptr;
}

// Names of the keys and tables directly inside the table `prefix` ("" = top level, "agent.").
std::vector<std::string> ChildNames(absl::string_view prefix) {
  std::vector<std::string> names;
  for (const KeySpec& spec : Specs()) {
    absl::string_view key = spec.key;
    if (key.substr(0, prefix.size()) != prefix) continue;
    key.remove_prefix(prefix.size());
    std::string child(key.substr(0, key.find('.')));
    if (std::find(names.begin(), names.end(), child) == names.end()) names.push_back(child);
  }
  return names;
}

bool IsKnownTable(absl::string_view dotted) {
  return !ChildNames(absl::StrCat(dotted, ".")).empty();
}

// What is wrong with `value` for `spec` ("" when fine). `label` names the value in the message:
// the key, or "agent.listen[2]" for an element.
std::string ValueProblem(const KeySpec& spec, absl::string_view label, absl::string_view value) {
  if (value.find('\0') != absl::string_view::npos) {
    return absl::StrCat(label, " must not contain a NUL character");
  }
  if (!spec.allowed.empty() &&
      std::find(spec.allowed.begin(), spec.allowed.end(), value) == spec.allowed.end()) {
    return absl::StrCat(label, " must be one of ", absl::StrJoin(spec.allowed, ", "), ", got '",
                        value, "'", DidYouMean(value, spec.allowed));
  }
  const absl::string_view key = spec.key;
  if (key == "models_dir" && value.empty()) {
    return "models_dir must not be empty (the default is \".test-models\")";
  }
  if (key == "git.sync_branch" && (value.empty() || value.front() == '-' ||
                                   value.find_first_of(" ~^:?*[\\") != absl::string_view::npos)) {
    return absl::StrCat(label, " must be a branch name, got '", value, "'");
  }
  if (key == "download.hf_command" || key == "convert.python") {
    // A program, run by argv: "python3 -m x" would be looked up as one file name and never found.
    if (value.empty())
      return absl::StrCat(label, " must name a program (a name in PATH or a path)");
    if (value.find('/') == absl::string_view::npos &&
        value.find_first_of(" \t") != absl::string_view::npos) {
      return absl::StrCat(label,
                          " must be one program (a name in PATH or a path), not a command "
                          "line: got '",
                          value, "'");
    }
  }
  if (absl::EndsWith(key, ".argv")) {
    // Every {placeholder} must be one the agent fills in: a typo would reach the worker as is.
    const std::vector<std::string>& kPlaceholders = WorkerPlaceholders();
    for (size_t open = value.find('{'); open != absl::string_view::npos;
         open = value.find('{', open + 1)) {
      const size_t close = value.find('}', open);
      const std::string name(value.substr(
          open + 1, close == absl::string_view::npos ? absl::string_view::npos : close - open - 1));
      if (close == absl::string_view::npos ||
          std::find(kPlaceholders.begin(), kPlaceholders.end(), name) == kPlaceholders.end()) {
        return absl::StrCat(label, ": unknown placeholder '{", name, "}' (known: {",
                            absl::StrJoin(kPlaceholders, "}, {"), "})");
      }
    }
  }
  if ((key == "agent.address" && !value.empty()) || key == "agent.listen") {
    absl::StatusOr<Address> address = ParseAddress(value);
    if (!address.ok()) return absl::StrCat(label, ": ", address.status().message());
  }
  return "";
}

// The key's default as TOML, for fixes: "8", "\"info\"".
std::string DefaultAsToml(const KeySpec& spec) { return ConfigValueAsToml(Config(), spec.key); }

// The key as written inside its table: "connections" for "download.connections".
std::string LeafOf(absl::string_view key) {
  const size_t dot = key.rfind('.');
  return std::string(dot == absl::string_view::npos ? key : key.substr(dot + 1));
}

// What to do about a value ValueProblem() refused.
std::string ValueFix(const KeySpec& spec) {
  const absl::string_view key = spec.key;
  if (!spec.allowed.empty()) {
    return absl::StrCat("use one of ", absl::StrJoin(spec.allowed, ", "), " (default ",
                        DefaultAsToml(spec), ")");
  }
  if (absl::EndsWith(key, ".argv")) {
    return absl::StrCat("start argv with the worker program and use only the placeholders {",
                        absl::StrJoin(WorkerPlaceholders(), "}, {"), "}");
  }
  if (key == "agent.address" || key == "agent.listen") {
    return "write unix:PATH or HOST:PORT, e.g. \"unix:/run/llorch/pool-agent.sock\" or "
           "\"127.0.0.1:9200\"";
  }
  if (key == "download.hf_command" || key == "convert.python") {
    return absl::StrCat("give one program, a name in PATH or a path, without arguments (default ",
                        DefaultAsToml(spec), ")");
  }
  if (key == "git.sync_branch") return "give a branch name, e.g. sync_branch = \"main\"";
  if (key == "models_dir") return "give a directory, or leave models_dir out for the default";
  return absl::StrCat("see ", LeafOf(key), " in docs/configuration.md");
}

std::string IntegerFix(const KeySpec& spec) {
  return absl::StrCat("use a whole number from ", spec.min, " to ", spec.max, ", e.g. ",
                      LeafOf(spec.key), " = ", DefaultAsToml(spec), ", the default");
}

std::string IntegerProblem(const KeySpec& spec, int64_t value) {
  if (value >= spec.min && value <= spec.max) return "";
  return absl::StrCat(spec.key, " must be between ", spec.min, " and ", spec.max, ", got ", value);
}

// What is wrong with the list as a whole ("" when fine): a worker's argv needs its program.
std::string ListShapeProblem(const KeySpec& spec, const std::vector<std::string>& values) {
  if (absl::EndsWith(spec.key, ".argv") && (values.empty() || values.front().empty())) {
    return absl::StrCat(spec.key, " must start with the worker program (a name in PATH or a path)");
  }
  return "";
}

std::string ListProblem(const KeySpec& spec, const std::vector<std::string>& values) {
  if (std::string problem = ListShapeProblem(spec, values); !problem.empty()) return problem;
  for (size_t i = 0; i < values.size(); ++i) {
    std::string problem = ValueProblem(spec, absl::StrCat(spec.key, "[", i, "]"), values[i]);
    if (!problem.empty()) return problem;
  }
  return "";
}

const char* TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
    default:
      return "nothing";
  }
}

// Applies a parsed TOML document to a Config, collecting every problem.
class TomlMerger {
 public:
  TomlMerger(absl::string_view source, Config* config) : source_(source), config_(config) {}

  void MergeTable(const toml::table& table, const std::string& prefix) {
    for (auto&& [toml_key, node] : table) {
      const std::string name(toml_key.str());
      const std::string dotted = prefix + name;
      // The key's own position; a table made by a [header] may only have the node's.
      const toml::source_region& where =
          toml_key.source().begin.line != 0 ? toml_key.source() : node.source();
      if (const KeySpec* spec = FindSpec(dotted)) {
        MergeValue(*spec, node);
      } else if (IsKnownTable(dotted)) {
        if (const toml::table* child = node.as_table()) {
          MergeTable(*child, dotted + ".");
        } else {
          Add(where,
              absl::StrCat(dotted, " must be a table ([", dotted, "]), got ", TypeName(node)),
              absl::StrCat("write its keys under a [", dotted, "] header"), dotted);
        }
      } else {
        Unknown unknown = UnknownMessage(prefix, name, node.is_table());
        Add(where, std::move(unknown.message), std::move(unknown.fix), dotted);
      }
    }
  }

  std::vector<ConfigProblem> TakeProblems() {
    std::stable_sort(problems_.begin(), problems_.end(),
                     [](const ConfigProblem& a, const ConfigProblem& b) {
                       return std::tie(a.line, a.column) < std::tie(b.line, b.column);
                     });
    return std::move(problems_);
  }

 private:
  void Add(const toml::source_region& where, std::string message, std::string fix,
           absl::string_view key) {
    ConfigProblem problem{std::string(source_), static_cast<int>(where.begin.line), 0,
                          std::move(message)};
    problem.fix = std::move(fix);
    problem.key = std::string(key);
    problems_.push_back(std::move(problem));
  }

  void MergeValue(const KeySpec& spec, const toml::node& node) {
    if (spec.integer) {
      const toml::value<int64_t>* value = node.as_integer();
      if (value == nullptr) {
        std::string message = absl::StrCat(spec.key, " must be an integer, got ", TypeName(node));
        std::string fix = IntegerFix(spec);
        if (node.is_string()) {
          absl::StrAppend(&message, " (write it without quotes)");
          int64_t number = 0;
          if (absl::SimpleAtoi(node.as_string()->get(), &number)) {
            fix = absl::StrCat("write it without quotes: ", LeafOf(spec.key), " = ", number);
          }
        }
        Add(node.source(), std::move(message), std::move(fix), spec.key);
        return;
      }
      if (std::string problem = IntegerProblem(spec, value->get()); !problem.empty()) {
        Add(node.source(), std::move(problem), IntegerFix(spec), spec.key);
        return;
      }
      *spec.integer(*config_) = value->get();
    } else if (spec.text) {
      const toml::value<std::string>* value = node.as_string();
      if (value == nullptr) {
        Add(node.source(), absl::StrCat(spec.key, " must be a string, got ", TypeName(node)),
            absl::StrCat("quote it, e.g. ", LeafOf(spec.key), " = ", DefaultAsToml(spec),
                         ", the default"),
            spec.key);
        return;
      }
      if (std::string problem = ValueProblem(spec, spec.key, value->get()); !problem.empty()) {
        Add(node.source(), std::move(problem), ValueFix(spec), spec.key);
        return;
      }
      *spec.text(*config_) = value->get();
    } else {
      const toml::array* array = node.as_array();
      if (array == nullptr) {
        std::string message =
            absl::StrCat(spec.key, " must be an array of strings, got ", TypeName(node));
        std::string fix = absl::StrCat("write a list of strings, e.g. ", LeafOf(spec.key), " = ",
                                       DefaultAsToml(spec), ", the default");
        if (node.is_string()) {
          absl::StrAppend(&message, " (write [\"", node.as_string()->get(), "\"])");
          fix = absl::StrCat("put it in brackets: ", LeafOf(spec.key), " = [",
                             QuoteEscaped(node.as_string()->get()), "]");
        }
        Add(node.source(), std::move(message), std::move(fix), spec.key);
        return;
      }
      std::vector<std::string> values;
      bool ok = true;
      for (size_t i = 0; i < array->size(); ++i) {
        const toml::node& element = *array->get(i);
        const std::string label = absl::StrCat(spec.key, "[", i, "]");
        if (!element.is_string()) {
          Add(element.source(),
              absl::StrCat(spec.key, " must be an array of strings, got ", TypeName(element),
                           " at ", label),
              "quote the element", spec.key);
          ok = false;
          continue;
        }
        const std::string& value = element.as_string()->get();
        if (std::string problem = ValueProblem(spec, label, value); !problem.empty()) {
          Add(element.source(), std::move(problem), ValueFix(spec), spec.key);
          ok = false;
          continue;
        }
        values.push_back(value);
      }
      if (!ok) return;
      if (std::string problem = ListShapeProblem(spec, values); !problem.empty()) {
        Add(node.source(), std::move(problem), ValueFix(spec), spec.key);
        return;
      }
      *spec.list(*config_) = std::move(values);
    }
    SetOrigin(config_, spec.key, source_, static_cast<int>(node.source().begin.line));
  }

  struct Unknown {
    std::string message;
    std::string fix;
  };
  // "unknown key 'x' (did you mean 'y'?)", pointing to another table when the name belongs
  // there ("log_level" at the top level -> "agent.log_level").
  static Unknown UnknownMessage(const std::string& prefix, const std::string& name, bool is_table) {
    std::string message =
        absl::StrCat(is_table ? "unknown table '" : "unknown key '", prefix, name, "'");
    std::string sibling = ClosestMatch(name, ChildNames(prefix));
    if (!sibling.empty()) {
      absl::StrAppend(&message, " (did you mean '", prefix, sibling, "'?)");
      return {std::move(message), absl::StrCat("rename it to '", sibling, "'")};
    }
    std::vector<std::string> leaves;
    std::vector<std::string> full_names;
    for (const std::string& key : ConfigKeys()) {
      size_t dot = key.rfind('.');
      leaves.push_back(dot == std::string::npos ? key : key.substr(dot + 1));
      full_names.push_back(key);
    }
    std::string leaf = ClosestMatch(name, leaves);
    if (leaf.empty()) {
      return {std::move(message), absl::StrCat("remove it (", kDocsHint, ")")};
    }
    const std::string& full =
        full_names[std::find(leaves.begin(), leaves.end(), leaf) - leaves.begin()];
    size_t dot = full.rfind('.');
    const std::string place = dot == std::string::npos
                                  ? std::string("at the top level, before any [table]")
                                  : absl::StrCat("in the [", full.substr(0, dot), "] table");
    absl::StrAppend(&message, " (did you mean '", full, "'? it belongs ", place, ")");
    return {std::move(message), absl::StrCat("move it ", place, " as '", leaf, "'")};
  }

  absl::string_view source_;
  Config* config_;
  std::vector<ConfigProblem> problems_;
};

// Parses and applies `toml_text` to `config` (partially, when there are problems).
std::vector<ConfigProblem> ApplyToml(absl::string_view toml_text, absl::string_view source_name,
                                     Config* config) {
  toml::table root;
  try {
    root = toml::parse(std::string_view(toml_text.data(), toml_text.size()),
                       std::string_view(source_name.data(), source_name.size()));
  } catch (const toml::parse_error& error) {
    ConfigProblem problem{std::string(source_name), static_cast<int>(error.source().begin.line),
                          static_cast<int>(error.source().begin.column),
                          absl::StrCat("TOML syntax error: ", std::string(error.description()))};
    problem.fix = "correct the TOML at the line and column shown (https://toml.io)";
    return {std::move(problem)};
  }
  TomlMerger merger(source_name, config);
  merger.MergeTable(root, "");
  return merger.TakeProblems();
}

absl::Status ProblemsToStatus(const std::vector<ConfigProblem>& problems) {
  if (problems.empty()) return absl::OkStatus();
  std::vector<std::string> lines;
  for (const ConfigProblem& problem : problems) lines.push_back(FormatConfigProblem(problem));
  return WithHint(absl::InvalidArgumentError(absl::StrJoin(lines, "\n")), kDocsHint);
}

// The text of the configuration file at `path`, read as every small input file is (file_read.h).
absl::StatusOr<std::string> ReadConfigFile(const std::string& path) {
  return ReadRegularFile(path, {.what = "configuration file"});
}

// A problem from a status (a file that cannot be read, a bad flag): its message without the
// source the problem names anyway, its hint as the fix.
ConfigProblem ProblemFromStatus(const absl::Status& status, const std::string& source) {
  absl::string_view message = status.message();
  absl::ConsumePrefix(&message, absl::StrCat(source, ": "));
  ConfigProblem problem{source, 0, 0, std::string(message)};
  problem.fix = GetHint(status).value_or("");
  return problem;
}

// Applies the valid ones of the LLORCH_* variables (and NO_COLOR) to `config`; returns the
// problems of the others.
std::vector<ConfigProblem> ApplyEnvironment(const Environment& env, Config* config) {
  // Lowest priority first: LLORCH_MODELS_DIR wins over the bash scripts' LLORCH_MODEL_BASE_DIR.
  static constexpr std::pair<const char*, const char*> kVariables[] = {
      {"LLORCH_REPO_ROOT", "repo_root"},
      {"LLORCH_MODEL_BASE_DIR", "models_dir"},
      {"LLORCH_MODELS_DIR", "models_dir"},
      {"LLORCH_STATE_DIR", "state_dir"},
      {"LLORCH_CATALOG", "catalog"},
      {"LLORCH_CATALOG_LOCK", "catalog_lock"},
      {"LLORCH_AGENT", "agent.address"},
      {"LLORCH_LOG_LEVEL", "agent.log_level"},
      {"LLORCH_LOG_FORMAT", "agent.log_format"},
      {"LLORCH_TOKEN_FILE", "client.token_file"},
  };
  std::vector<ConfigProblem> problems;
  for (const auto& [variable, key] : kVariables) {
    auto it = env.find(variable);
    if (it == env.end() || it->second.empty()) continue;
    const KeySpec& spec = *FindSpec(key);
    const std::string origin = absl::StrCat("env ", variable);
    if (std::string problem = ValueProblem(spec, spec.key, it->second); !problem.empty()) {
      ConfigProblem found{origin, 0, 0, std::move(problem)};
      found.fix = absl::StrCat(ValueFix(spec), "; or unset ", variable);
      found.key = spec.key;
      problems.push_back(std::move(found));
      continue;
    }
    *spec.text(*config) = it->second;
    SetOrigin(config, key, origin, 0);
  }
  // https://no-color.org: any non-empty value turns colour off.
  if (auto it = env.find("NO_COLOR"); it != env.end() && !it->second.empty()) {
    config->client.color = "never";
    SetOrigin(config, "client.color", "env NO_COLOR", 0);
  }
  return problems;
}

// One flag, applied as SetFromFlag() applies it.
absl::Status ApplyFlag(const ConfigFlag& flag, Config* config) {
  const KeySpec* spec = FindSpec(flag.key);
  if (spec != nullptr && spec->list) return SetFromFlag(config, flag.key, flag.values, flag.flag);
  if (flag.values.size() != 1) {
    return absl::InternalError(absl::StrCat("flag ", flag.flag, " sets '", flag.key, "' to ",
                                            flag.values.size(), " values"));
  }
  return SetFromFlag(config, flag.key, flag.values.front(), flag.flag);
}

// Walks one layer after another (WalkConfigLayers).
class LayerWalk {
 public:
  LayerWalk(bool keep_going, ConfigWalk* walk) : keep_going_(keep_going), walk_(walk) {}

  // Ends a layer whose result is `merged`; false when the walk stops here.
  bool End(Config merged, const absl::Status& status, std::vector<ConfigProblem> problems) {
    if (!status.ok()) {
      if (walk_->first_error.ok()) walk_->first_error = status;
      for (ConfigProblem& problem : problems) walk_->problems.push_back(std::move(problem));
      if (!keep_going_) return false;
    }
    walk_->config = std::move(merged);
    return true;
  }

  // A configuration file; a missing one is a problem only when `must_exist`.
  bool File(const std::string& path, ConfigLayer layer, bool must_exist) {
    walk_->files.push_back(ConfigFileState{path, layer, false});
    absl::StatusOr<std::string> text = ReadConfigFile(path);
    if (absl::IsNotFound(text.status())) {
      if (!must_exist) return true;
      const absl::Status missing = WithHint(text.status(), "check the path given with --config");
      return End(walk_->config, missing, {ProblemFromStatus(missing, path)});
    }
    walk_->files.back().exists = true;
    if (!text.ok()) {
      return End(walk_->config, text.status(), {ProblemFromStatus(text.status(), path)});
    }
    Config merged = walk_->config;
    std::vector<ConfigProblem> problems = ApplyToml(*text, path, &merged);
    const absl::Status status = ProblemsToStatus(problems);
    return End(std::move(merged), status, std::move(problems));
  }

  bool Environment(const llorch::Environment& env) {
    Config merged = walk_->config;
    std::vector<ConfigProblem> problems = ApplyEnvironment(env, &merged);
    const absl::Status status = ProblemsToStatus(problems);
    return End(std::move(merged), status, std::move(problems));
  }

  bool Flag(const ConfigFlag& flag) {
    Config merged = walk_->config;
    const absl::Status status = ApplyFlag(flag, &merged);
    std::vector<ConfigProblem> problems;
    if (!status.ok()) {
      problems.push_back(ProblemFromStatus(status, absl::StrCat("flag ", flag.flag)));
      problems.back().key = flag.key;
    }
    return End(std::move(merged), status, std::move(problems));
  }

 private:
  const bool keep_going_;
  ConfigWalk* walk_;
};

}  // namespace

namespace config_internal {
std::map<std::string, std::string> DefaultOrigins() {
  std::map<std::string, std::string> origins;
  for (const std::string& key : ConfigKeys()) origins[key] = "default";
  return origins;
}
}  // namespace config_internal

const std::vector<std::string>& ConfigKeys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> out;
    for (const KeySpec& spec : Specs()) out.push_back(spec.key);
    return out;
  }();
  return keys;
}

std::string FormatConfigProblem(const ConfigProblem& problem) {
  std::string out = problem.source;
  if (problem.line > 0) {
    absl::StrAppend(&out, ":", problem.line);
    if (problem.column > 0) absl::StrAppend(&out, ":", problem.column);
  }
  absl::StrAppend(&out, ": ", problem.message);
  return out;
}

absl::Status MergeConfigText(absl::string_view toml_text, absl::string_view source_name,
                             Config* config) {
  Config merged = *config;
  std::vector<ConfigProblem> problems = ApplyToml(toml_text, source_name, &merged);
  if (!problems.empty()) return ProblemsToStatus(problems);
  *config = std::move(merged);
  return absl::OkStatus();
}

absl::Status MergeEnvironment(const Environment& env, Config* config) {
  Config merged = *config;
  std::vector<ConfigProblem> problems = ApplyEnvironment(env, &merged);
  if (!problems.empty()) return ProblemsToStatus(problems);
  *config = std::move(merged);
  return absl::OkStatus();
}

std::vector<std::string> ConfigFilePaths(const ConfigSources& sources) {
  std::vector<std::string> files;
  const std::string user_file =
      sources.user_file.empty() ? UserConfigFile(sources.env) : sources.user_file;
  for (const std::string& file :
       {sources.system_file, user_file, sources.explicit_file.value_or("")}) {
    if (!file.empty()) files.push_back(file);
  }
  return files;
}

ConfigWalk WalkConfigLayers(const ConfigSources& sources, bool keep_going) {
  ConfigWalk walk;
  LayerWalk layers(keep_going, &walk);
  auto walk_layers = [&]() -> bool {
    const std::string user_file =
        sources.user_file.empty() ? UserConfigFile(sources.env) : sources.user_file;
    if (!sources.system_file.empty() &&
        !layers.File(sources.system_file, ConfigLayer::kSystemFile, /*must_exist=*/false)) {
      return false;
    }
    if (!user_file.empty() && !layers.File(user_file, ConfigLayer::kUserFile, false)) return false;
    if (sources.explicit_file.has_value()) {
      if (sources.explicit_file->empty()) {
        const absl::Status empty =
            WithHint(absl::InvalidArgumentError("--config was given an empty value"),
                     "leave --config out to read only the system and user configuration files");
        if (!layers.End(walk.config, empty, {ProblemFromStatus(empty, "flag --config")})) {
          return false;
        }
      } else if (!layers.File(*sources.explicit_file, ConfigLayer::kConfigFile,
                              /*must_exist=*/true)) {
        return false;
      }
    }
    if (!layers.Environment(sources.env)) return false;
    for (const ConfigFlag& flag : sources.flags) {
      if (!layers.Flag(flag)) return false;
    }
    return true;
  };
  walk_layers();
  walk.config.sources = sources;
  return walk;
}

ConfigLayer LayerOfOrigin(const ConfigWalk& walk, absl::string_view origin) {
  if (origin == "default") return ConfigLayer::kDefault;
  if (absl::StartsWith(origin, "env ")) return ConfigLayer::kEnv;
  if (absl::StartsWith(origin, "flag ")) return ConfigLayer::kFlag;
  for (auto file = walk.files.rbegin(); file != walk.files.rend(); ++file) {
    if (file->path == origin) return file->layer;
  }
  return ConfigLayer::kConfigFile;
}

absl::StatusOr<Config> LoadConfig(const ConfigSources& sources) {
  ConfigWalk walk = WalkConfigLayers(sources, /*keep_going=*/false);
  if (!walk.first_error.ok()) return walk.first_error;
  return std::move(walk.config);
}

absl::Status SetFromFlag(Config* config, absl::string_view key, absl::string_view value,
                         absl::string_view flag) {
  const KeySpec* spec = FindSpec(key);
  if (spec == nullptr) {
    return absl::InternalError(
        absl::StrCat("flag ", flag, " sets unknown configuration key '", key, "'"));
  }
  if (spec->list)
    return SetFromFlag(config, key, std::vector<std::string>{std::string(value)}, flag);
  if (spec->integer) {
    int64_t number = 0;
    std::string problem = absl::SimpleAtoi(value, &number)
                              ? IntegerProblem(*spec, number)
                              : absl::StrCat(spec->key, " must be an integer, got '", value, "'");
    if (!problem.empty()) {
      return ProblemsToStatus({ConfigProblem{absl::StrCat("flag ", flag), 0, 0, problem}});
    }
    *spec->integer(*config) = number;
    SetOrigin(config, spec->key, absl::StrCat("flag ", flag), 0);
    return absl::OkStatus();
  }
  if (value.empty()) {
    return WithHint(absl::InvalidArgumentError(absl::StrCat(flag, " was given an empty value")),
                    absl::StrCat("leave ", flag, " out to use ", spec->key,
                                 " from the configuration, or its default"));
  }
  if (std::string problem = ValueProblem(*spec, spec->key, value); !problem.empty()) {
    return ProblemsToStatus({ConfigProblem{absl::StrCat("flag ", flag), 0, 0, problem}});
  }
  *spec->text(*config) = std::string(value);
  SetOrigin(config, spec->key, absl::StrCat("flag ", flag), 0);
  return absl::OkStatus();
}

absl::Status SetFromFlag(Config* config, absl::string_view key,
                         const std::vector<std::string>& values, absl::string_view flag) {
  const KeySpec* spec = FindSpec(key);
  if (spec == nullptr || spec->list == nullptr) {
    return absl::InternalError(
        absl::StrCat("flag ", flag, " sets '", key, "', which is not a list configuration key"));
  }
  if (std::string problem = ListProblem(*spec, values); !problem.empty()) {
    return ProblemsToStatus({ConfigProblem{absl::StrCat("flag ", flag), 0, 0, problem}});
  }
  *spec->list(*config) = values;
  SetOrigin(config, spec->key, absl::StrCat("flag ", flag), 0);
  return absl::OkStatus();
}

void AddFlags(ConfigSources* sources, const std::vector<FlagValue>& flags) {
  for (const FlagValue& flag : flags) {
    if (flag.value) sources->flags.push_back(ConfigFlag{flag.key, flag.flag, {*flag.value}});
  }
}

absl::Status SetFromFlags(Config* config, const std::vector<FlagValue>& flags) {
  for (const FlagValue& flag : flags) {
    if (!flag.value) continue;
    if (absl::Status status = SetFromFlag(config, flag.key, *flag.value, flag.flag); !status.ok()) {
      return status;
    }
  }
  return absl::OkStatus();
}

std::string ConfigValueAsToml(const Config& config, absl::string_view key) {
  const KeySpec* spec = FindSpec(key);
  if (spec == nullptr) return "";
  Config copy = config;  // the accessors hand out mutable addresses
  if (spec->integer) return absl::StrCat(*spec->integer(copy));
  if (spec->text) return QuoteEscaped(*spec->text(copy));
  std::vector<std::string> quoted;
  for (const std::string& value : *spec->list(copy)) quoted.push_back(QuoteEscaped(value));
  return absl::StrCat("[", absl::StrJoin(quoted, ", "), "]");
}

std::vector<ConfigProblem> CheckConfigText(absl::string_view toml_text,
                                           absl::string_view source_name) {
  Config scratch;
  return ApplyToml(toml_text, source_name, &scratch);
}

std::vector<ConfigProblem> CheckConfigFile(const std::string& path, bool must_exist) {
  absl::StatusOr<std::string> text = ReadConfigFile(path);
  if (absl::IsNotFound(text.status()) && !must_exist) return {};
  if (!text.ok()) {
    // The reader's messages start with the path, which the problem carries as its source.
    absl::string_view message = text.status().message();
    absl::ConsumePrefix(&message, absl::StrCat(path, ": "));
    return {ConfigProblem{path, 0, 0, std::string(message)}};
  }
  return CheckConfigText(*text, path);
}

}  // namespace llorch
