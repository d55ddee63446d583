#include "agent/server/event_log.h"

#include <google/protobuf/util/time_util.h>

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "common/error_metadata.h"
#include "llorch/pool/v1/common.pb.h"
#include "llorch/pool/v1/model.pb.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using google::protobuf::util::TimeUtil;

// "SUCCEEDED" of OPERATION_STATE_SUCCEEDED, lower-cased: the enum value without its prefix.
std::string EnumWord(const std::string& name, absl::string_view prefix) {
  return absl::AsciiStrToLower(absl::StripPrefix(name, prefix));
}

std::string Seconds(const google::protobuf::Timestamp& from,
                    const google::protobuf::Timestamp& to) {
  const double seconds = static_cast<double>(TimeUtil::DurationToMilliseconds(to - from)) / 1000.0;
  return absl::StrFormat("%.3f", seconds);
}

void DescribeOperation(const v1::Operation& operation, LogLevel* level, std::string* name,
                       LogFields* fields) {
  fields->push_back({"id", operation.id()});
  fields->push_back({"kind", operation.kind()});
  if (!operation.target().empty()) fields->push_back({"target", operation.target()});
  const std::string state =
      EnumWord(v1::OperationState_Name(operation.state()), "OPERATION_STATE_");
  if (operation.state() == v1::OPERATION_STATE_PENDING) {
    if (operation.has_waiting_for()) {
      *name = "operation.wait";
      fields->push_back({"waiting_for", operation.waiting_for().description()});
    } else {
      *name = "operation.start";
      if (!operation.started_by().empty()) {
        fields->push_back({"started_by", operation.started_by()});
      }
      if (!operation.started_by_peer().empty()) {
        fields->push_back({"peer", operation.started_by_peer()});
      }
    }
    return;
  }
  *name = "operation.end";
  *level = operation.state() == v1::OPERATION_STATE_FAILED ? LogLevel::kWarn : LogLevel::kInfo;
  fields->push_back({"state", state});
  if (operation.has_finished_at()) {
    fields->push_back({"duration_s", Seconds(operation.created_at(), operation.finished_at())});
  }
  if (operation.progress().unit() == v1::PROGRESS_UNIT_BYTES) {
    fields->push_back({"bytes", absl::StrCat(operation.progress().done())});
  }
  if (!operation.has_error()) return;
  v1::ErrorHint hint;
  for (const auto& any : operation.error().details()) any.UnpackTo(&hint);
  if (!hint.reason().empty()) fields->push_back({"reason", hint.reason()});
  if (operation.state() == v1::OPERATION_STATE_CANCELLED) {
    *name = "operation.cancel";
    for (const char* key : {metadata::kRequestedBy, metadata::kPeer}) {
      auto it = hint.metadata().find(key);
      if (it != hint.metadata().end()) fields->push_back({key, it->second});
    }
  }
  fields->push_back({"error", operation.error().message()});
}

void DescribeModel(const v1::ModelChange& change, std::string* name, LogFields* fields) {
  *name = "model." + EnumWord(v1::ModelChange::Kind_Name(change.kind()), "KIND_");
  fields->push_back({"id", change.model_id()});
  if (!change.operation_id().empty()) fields->push_back({"operation", change.operation_id()});
}

void DescribeWorker(const v1::WorkerChange& change, LogLevel* level, std::string* name,
                    LogFields* fields) {
  *name = "worker." + EnumWord(v1::WorkerChange::Kind_Name(change.kind()), "KIND_");
  const v1::Worker& worker = change.worker();
  fields->push_back({"id", worker.id()});
  if (worker.pid() != 0) fields->push_back({"pid", absl::StrCat(worker.pid())});
  if (worker.port() != 0) fields->push_back({"port", absl::StrCat(worker.port())});
  switch (change.kind()) {
    case v1::WorkerChange::KIND_STARTED:
    case v1::WorkerChange::KIND_RESTARTING:
      fields->push_back({"attempt", absl::StrCat(change.attempt())});
      break;
    case v1::WorkerChange::KIND_EXITED:
    case v1::WorkerChange::KIND_STOPPED:
      fields->push_back({"exit_code", absl::StrCat(worker.exit_code())});
      break;
    default:
      break;
  }
  if (!change.reason().empty()) fields->push_back({"reason", change.reason()});
  if (change.kind() == v1::WorkerChange::KIND_EXITED ||
      change.kind() == v1::WorkerChange::KIND_LOST ||
      change.kind() == v1::WorkerChange::KIND_GAVE_UP) {
    *level = LogLevel::kWarn;
  }
}

}  // namespace

bool DescribeAgentEvent(const v1::AgentEvent& event, LogLevel* level, std::string* name,
                        LogFields* fields) {
  *level = LogLevel::kInfo;
  switch (event.payload_case()) {
    case v1::AgentEvent::kOperation:
      if (event.operation().state() == v1::OPERATION_STATE_RUNNING) return false;
      DescribeOperation(event.operation(), level, name, fields);
      return true;
    case v1::AgentEvent::kModel:
      DescribeModel(event.model(), name, fields);
      return true;
    case v1::AgentEvent::kWorker:
      DescribeWorker(event.worker(), level, name, fields);
      return true;
    default:
      return false;
  }
}

void LogAgentEvent(const v1::AgentEvent& event) {
  LogLevel level;
  std::string name;
  LogFields fields;
  if (DescribeAgentEvent(event, &level, &name, &fields)) LogRecord(level, name, fields);
}

}  // namespace llorch
