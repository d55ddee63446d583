#include "agent/workers/worker_record.h"

#include <map>
#include <mutex>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "agent/workers/proc_fs.h"
#include "common/atomic_file.h"
#include "nlohmann/json.hpp"

namespace llorch {
namespace {

constexpr char kSuffix[] = ".json";
constexpr uint64_t kMaxRecordBytes = 1 << 20;

nlohmann::json ToJson(const WorkerRecord& r) {
  nlohmann::json json = {
      {"id", r.id},
      {"backend", r.backend},
      {"model_id", r.model_id},
      {"model_path", r.model_path},
      {"gpu", r.gpu},
      {"port", r.port},
      {"pid", r.pid},
      {"start_time", r.start_time},
      {"executable", r.executable},
      {"argv", r.argv},
      {"log_path", r.log_path},
      {"created_at_ms", r.created_at_ms},
      {"ready_at_ms", r.ready_at_ms},
      {"uri", r.uri},
      {"vram_bytes", r.vram_bytes},
      {"exited_at_ms", r.exited_at_ms},
      {"failed", r.failed},
      {"lost", r.lost},
      {"state_reason", r.state_reason},
      {"restart_policy", r.restart_policy},
      {"restarts", r.restarts},
      {"restart_streak", r.restart_streak},
      {"starts_ms", r.starts_ms},
      {"restart_at_ms", r.restart_at_ms},
      {"stopping_at_ms", r.stopping_at_ms},
      {"stopped", r.stopped},
  };
  if (r.exit_code) json["exit_code"] = *r.exit_code;
  return json;
}

template <typename T>
void Get(const nlohmann::json& json, const char* key, T* out) {
  auto it = json.find(key);
  if (it == json.end()) return;
  try {
    *out = it->get<T>();
  } catch (const nlohmann::json::exception&) {
    // A field of the wrong type stays at its default.
  }
}

std::optional<WorkerRecord> FromJson(const std::string& text) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object() || !json.contains("id") || !json["id"].is_string()) return std::nullopt;
  WorkerRecord r;
  Get(json, "id", &r.id);
  Get(json, "backend", &r.backend);
  Get(json, "model_id", &r.model_id);
  Get(json, "model_path", &r.model_path);
  Get(json, "gpu", &r.gpu);
  Get(json, "port", &r.port);
  Get(json, "pid", &r.pid);
  Get(json, "start_time", &r.start_time);
  Get(json, "executable", &r.executable);
  Get(json, "argv", &r.argv);
  Get(json, "log_path", &r.log_path);
  Get(json, "created_at_ms", &r.created_at_ms);
  Get(json, "ready_at_ms", &r.ready_at_ms);
  Get(json, "uri", &r.uri);
  Get(json, "vram_bytes", &r.vram_bytes);
  Get(json, "exited_at_ms", &r.exited_at_ms);
  Get(json, "failed", &r.failed);
  Get(json, "lost", &r.lost);
  Get(json, "state_reason", &r.state_reason);
  Get(json, "restart_policy", &r.restart_policy);
  Get(json, "restarts", &r.restarts);
  Get(json, "restart_streak", &r.restart_streak);
  Get(json, "starts_ms", &r.starts_ms);
  Get(json, "stopping_at_ms", &r.stopping_at_ms);
  Get(json, "stopped", &r.stopped);
  Get(json, "restart_at_ms", &r.restart_at_ms);
  if (json.contains("exit_code") && json["exit_code"].is_number_integer()) {
    r.exit_code = json["exit_code"].get<int>();
  }
  return r;
}

}  // namespace

ProcessIdentity RecordedIdentity(const WorkerRecord& record) {
  return ProcessIdentity{static_cast<pid_t>(record.pid), record.start_time,
                         record.ready_at_ms != 0 ? record.executable : ""};
}

bool IsLive(const WorkerRecord& record) {
  return !record.exit_code && !record.failed && !record.lost && !record.stopped &&
         IsRecordedProcessAlive(record);
}

bool IsRecordedProcessAlive(const WorkerRecord& record) {
  if (record.pid <= 0) return false;
  const auto pid = static_cast<pid_t>(record.pid);
  // ReadProcessIdentity's reads, with the state from the same read of /proc/PID/stat.
  absl::StatusOr<ProcStat> stat = ReadProcStat(pid);
  if (!stat.ok() || stat->state == 'Z') return false;
  absl::StatusOr<ProcExecutable> executable = ReadProcExecutable(pid);
  return executable.ok() && ProcessIdentity{pid, stat->start_time, executable->path}.SameProcess(
                                RecordedIdentity(record));
}

struct WorkerRecords::Parsed {
  struct File {
    std::string text;
    WorkerRecord record;
  };
  std::mutex mu;
  std::map<std::string, File> files;
};

WorkerRecords::WorkerRecords(DirFd workers, DirFd logs, DirFd ports)
    : workers_(std::move(workers)),
      logs_(std::move(logs)),
      ports_(std::move(ports)),
      parsed_(std::make_shared<Parsed>()) {}

absl::StatusOr<WorkerRecords> WorkerRecords::Open(const std::filesystem::path& state_dir) {
  absl::StatusOr<DirFd> root = DirFd::OpenRoot(state_dir, /*create=*/true);
  if (!root.ok()) return root.status();
  absl::StatusOr<DirFd> workers = root->OpenDir("workers", /*create=*/true);
  if (!workers.ok()) return workers.status();
  absl::StatusOr<DirFd> logs = root->OpenDir("logs", /*create=*/true);
  if (!logs.ok()) return logs.status();
  absl::StatusOr<DirFd> ports = root->OpenDir("ports", /*create=*/true);
  if (!ports.ok()) return ports.status();
  return WorkerRecords(*std::move(workers), *std::move(logs), *std::move(ports));
}

absl::Status WorkerRecords::Write(const WorkerRecord& record) const {
  return WriteFileAtomically(workers_, record.id + kSuffix, ToJson(record).dump(2) + "\n");
}

absl::StatusOr<WorkerRecord> WorkerRecords::Read(const std::string& id) const {
  absl::StatusOr<std::string> text = workers_.ReadFile(id + kSuffix, kMaxRecordBytes);
  if (!text.ok()) return text.status();
  return Parse(id, *text);
}

absl::StatusOr<WorkerRecord> WorkerRecords::Parse(const std::string& id,
                                                  const std::string& text) const {
  std::optional<WorkerRecord> record = FromJson(text);
  if (!record || record->id != id) {
    return absl::DataLossError(
        absl::StrCat(workers_.PathOf(id + kSuffix).string(), " is not a worker state file"));
  }
  return *record;
}

std::vector<WorkerRecord> WorkerRecords::List() const {
  std::vector<WorkerRecord> records;
  absl::StatusOr<std::vector<std::string>> names = workers_.List();
  if (!names.ok()) return records;
  std::lock_guard lock(parsed_->mu);
  std::map<std::string, Parsed::File> listed;
  for (const std::string& name : *names) {  // sorted, so by id
    if (!absl::EndsWith(name, kSuffix)) continue;
    absl::StatusOr<std::string> text = workers_.ReadFile(name, kMaxRecordBytes);
    if (!text.ok()) continue;
    auto parsed = parsed_->files.find(name);
    if (parsed == parsed_->files.end() || parsed->second.text != *text) {
      absl::StatusOr<WorkerRecord> record =
          Parse(std::string(absl::StripSuffix(name, kSuffix)), *text);
      if (!record.ok()) continue;
      parsed =
          parsed_->files.insert_or_assign(name, Parsed::File{*std::move(text), *std::move(record)})
              .first;
    }
    records.push_back(parsed->second.record);
    listed.insert(*parsed);
  }
  parsed_->files = std::move(listed);
  return records;
}

}  // namespace llorch
