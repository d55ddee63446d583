// Every RPC of the v1 API refuses a request its proto comments forbid before anything runs, as an
// orchestrator calling the agent directly meets it (generated stubs on the in-process channel of
// a real agent with a git checkout and a model on disk): INVALID_ARGUMENT with reason
// INVALID_REQUEST (or a more specific one, e.g. BAD_BRANCH_NAME) and ErrorHint.metadata "field"
// naming the field; no event is streamed, no operation starts, and nothing changes on disk
// (models and state directories, the checkout and its .git).
//
// Two tables: requests made by reflection for every field of every RPC (a field the agent does
// not know, each enum field outside its enum, each string field too long or holding control
// characters, each repeated field too long), and hand-written requests for each RPC's own rules.
// Services and RPCs a later release serves answer UNIMPLEMENTED (NOT_AVAILABLE_YET) today; when
// one arrives, drop it from kNotServedYet and its rows demand the same as the others'.
#include <gmock/gmock.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/unknown_field_set.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <climits>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/rpc/request_rules.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "llorch/pool/v1/dev.grpc.pb.h"
#include "llorch/pool/v1/git.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "llorch/pool/v1/worker.grpc.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/git_fixture.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"
#include "tests/support/tree_snapshot.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

// Every service of the API.
const std::vector<std::string> kServices = {
    "llorch.pool.v1.ModelService",     "llorch.pool.v1.GitService",
    "llorch.pool.v1.OperationService", "llorch.pool.v1.AgentService",
    "llorch.pool.v1.WorkerService",    "llorch.pool.v1.DevService"};
// Services, and single RPCs of served services, this release answers UNIMPLEMENTED, reason
// NOT_AVAILABLE_YET.
// None: every RPC of v1 is served.
const std::set<std::string> kNotServedYet = {};

// What a call returned, and how many messages the server streamed before it.
struct Reply {
  grpc::Status status;
  int messages = 0;
};
using Call = std::function<Reply(const std::shared_ptr<grpc::Channel>&, const Message&)>;

// A call of a unary RPC through its generated stub, keyed by its request type.
template <typename Service, typename Request, typename Response>
std::pair<const std::string, Call> Rpc(grpc::Status (Service::Stub::*method)(grpc::ClientContext*,
                                                                             const Request&,
                                                                             Response*)) {
  return {Request::descriptor()->full_name(),
          [method](const std::shared_ptr<grpc::Channel>& channel, const Message& message) {
            Request request;
            request.CopyFrom(message);
            auto stub = Service::NewStub(channel);
            grpc::ClientContext context;
            Response response;
            return Reply{((*stub).*method)(&context, request, &response), 0};
          }};
}

// The same for a server-streaming RPC; the stream is read to its end.
template <typename Service, typename Request, typename Event>
std::pair<const std::string, Call> Rpc(std::unique_ptr<grpc::ClientReader<Event>> (
    Service::Stub::*method)(grpc::ClientContext*, const Request&)) {
  return {Request::descriptor()->full_name(),
          [method](const std::shared_ptr<grpc::Channel>& channel, const Message& message) {
            Request request;
            request.CopyFrom(message);
            auto stub = Service::NewStub(channel);
            grpc::ClientContext context;
            auto reader = ((*stub).*method)(&context, request);
            Reply reply;
            Event event;
            while (reader->Read(&event)) ++reply.messages;
            reply.status = reader->Finish();
            return reply;
          }};
}

// Every RPC of the API, by request type (each RPC has its own).
const std::map<std::string, Call>& Calls() {
  using Model = v1::ModelService;
  using Git = v1::GitService;
  using Ops = v1::OperationService;
  using Agent = v1::AgentService;
  using Worker = v1::WorkerService;
  using Dev = v1::DevService;
  static const auto* calls = new std::map<std::string, Call>({
      Rpc<Model>(&Model::Stub::ListCatalog),
      Rpc<Model>(&Model::Stub::ListModels),
      Rpc<Model>(&Model::Stub::GetModelInfo),
      Rpc<Model>(&Model::Stub::DownloadModel),
      Rpc<Model>(&Model::Stub::VerifyModel),
      Rpc<Model>(&Model::Stub::DeleteModel),
      Rpc<Model>(&Model::Stub::GetDiskUsage),
      Rpc<Model>(&Model::Stub::LockModels),
      Rpc<Git>(&Git::Stub::GetStatus),
      Rpc<Git>(&Git::Stub::Pull),
      Rpc<Git>(&Git::Stub::Sync),
      Rpc<Git>(&Git::Stub::ListSubmodules),
      Rpc<Git>(&Git::Stub::GetSubmoduleStatus),
      Rpc<Git>(&Git::Stub::UpdateSubmodules),
      Rpc<Git>(&Git::Stub::ResetSubmodule),
      Rpc<Git>(&Git::Stub::SwitchSubmoduleBranch),
      Rpc<Git>(&Git::Stub::Clean),
      Rpc<Ops>(&Ops::Stub::ListOperations),
      Rpc<Ops>(&Ops::Stub::GetOperation),
      Rpc<Ops>(&Ops::Stub::WatchOperation),
      Rpc<Ops>(&Ops::Stub::CancelOperation),
      Rpc<Agent>(&Agent::Stub::GetHostInfo),
      Rpc<Agent>(&Agent::Stub::WatchEvents),
      Rpc<Worker>(&Worker::Stub::SpawnWorker),
      Rpc<Worker>(&Worker::Stub::StopWorker),
      Rpc<Worker>(&Worker::Stub::ListWorkers),
      Rpc<Worker>(&Worker::Stub::GetWorkerLogs),
      Rpc<Dev>(&Dev::Stub::RunDoctor),
      Rpc<Dev>(&Dev::Stub::RunSetup),
      Rpc<Dev>(&Dev::Stub::CheckConfig),
  });
  return *calls;
}

std::vector<const MethodDescriptor*> AllMethods() {
  std::vector<const MethodDescriptor*> methods;
  for (const std::string& name : kServices) {
    const auto* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(name);
    if (service == nullptr) {
      ADD_FAILURE() << "no service " << name;
      continue;
    }
    for (int i = 0; i < service->method_count(); ++i) methods.push_back(service->method(i));
  }
  return methods;
}

const MethodDescriptor* MethodFor(const Message& request) {
  for (const MethodDescriptor* method : AllMethods()) {
    if (method->input_type() == request.GetDescriptor()) return method;
  }
  return nullptr;
}

// A bad request and what a served RPC must answer.
struct Case {
  std::string what;
  std::shared_ptr<const Message> request;
  std::string field;  // metadata "field"
  std::string reason = "INVALID_REQUEST";
};

std::unique_ptr<Message> NewRequest(const google::protobuf::Descriptor* type) {
  return std::unique_ptr<Message>(
      google::protobuf::MessageFactory::generated_factory()->GetPrototype(type)->New());
}

// Sets `field` of `message` (an entry of it, when repeated) to `value`.
void SetString(Message& message, const FieldDescriptor& field, const std::string& value) {
  if (field.is_repeated()) {
    message.GetReflection()->AddString(&message, &field, value);
  } else {
    message.GetReflection()->SetString(&message, &field, value);
  }
}
void SetEnum(Message& message, const FieldDescriptor& field, int value) {
  if (field.is_repeated()) {
    message.GetReflection()->AddEnumValue(&message, &field, value);
  } else {
    message.GetReflection()->SetEnumValue(&message, &field, value);
  }
}

// The requests made by reflection for `method`: one per rule of every request, per field.
std::vector<Case> GeneratedCases(const MethodDescriptor& method) {
  std::vector<Case> cases;
  const google::protobuf::Descriptor* type = method.input_type();
  auto add = [&](const std::string& what, const std::string& field,
                 const std::function<void(Message&)>& fill) {
    std::shared_ptr<Message> request = NewRequest(type);
    fill(*request);
    cases.push_back({what, request, field});
  };
  add("a field the agent does not know", "#999",
      [](Message& m) { m.GetReflection()->MutableUnknownFields(&m)->AddVarint(999, 1); });
  for (int i = 0; i < type->field_count(); ++i) {
    const FieldDescriptor& field = *type->field(i);
    const std::string name = field.name();
    const std::string entry = field.is_repeated() ? name + "[0]" : name;
    if (field.cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
      for (int value : {99, -1, INT_MAX}) {
        add(name + " = " + std::to_string(value), entry,
            [&](Message& m) { SetEnum(m, field, value); });
      }
    }
    if (field.type() == FieldDescriptor::TYPE_STRING) {
      const size_t limit = MaxStringBytes(field);  // the field's own limit, or the default
      const std::vector<std::pair<std::string, std::string>> bad = {
          {"one byte over its limit of " + std::to_string(limit), std::string(limit + 1, 'a')},
          {"a NUL", std::string("op\0x", 4)},
          {"a newline", "main\nx"},
          {"an escape sequence", "\x1b[2Jx"},
          {"a C1 control (CSI)",
           "x\xc2\x9b"
           "2J"},
          {"DEL", "x\x7f"}};
      for (const auto& [what, value] : bad) {
        add(name + " with " + what, entry, [&](Message& m) { SetString(m, field, value); });
      }
    }
    if (field.is_repeated()) {
      const int entries = MaxEntries(field) + 1;
      add(name + " with " + std::to_string(entries) + " entries", name, [&](Message& m) {
        for (int k = 0; k < entries; ++k) {
          if (field.cpp_type() == FieldDescriptor::CPPTYPE_ENUM) {
            SetEnum(m, field,
                    field.enum_type()->value(field.enum_type()->value_count() - 1)->number());
          } else if (field.cpp_type() == FieldDescriptor::CPPTYPE_INT64) {
            m.GetReflection()->AddInt64(&m, &field, 2 + k);
          } else {
            SetString(m, field, "a");
          }
        }
      });
    }
  }
  return cases;
}

template <typename Request>
Case Bad(std::string what, const std::function<void(Request&)>& fill, std::string field,
         std::string reason = "INVALID_REQUEST") {
  auto request = std::make_shared<Request>();
  fill(*request);
  return {std::move(what), request, std::move(field), std::move(reason)};
}

// The hand-written rows: each RPC's own rules, as its proto comments state them.
std::vector<Case> HandWrittenCases() {
  return {
      // ModelService: model ids of the form [a-z0-9][a-z0-9-]*, at most 64.
      Bad<v1::ListCatalogRequest>(
          "ids with '/'", [](auto& r) { r.add_ids("tiny/llama"); }, "ids[0]"),
      Bad<v1::ListCatalogRequest>(
          "ids with '..'",
          [](auto& r) {
            r.add_ids("tinyllama");
            r.add_ids("..");
          },
          "ids[1]"),
      Bad<v1::ListCatalogRequest>(
          "an upper-case id", [](auto& r) { r.add_ids("Qwen"); }, "ids[0]"),
      Bad<v1::ListCatalogRequest>(
          "an empty id", [](auto& r) { r.add_ids(""); }, "ids[0]"),
      Bad<v1::ListCatalogRequest>(
          "a 65-character id", [](auto& r) { r.add_ids(std::string(65, 'a')); }, "ids[0]"),
      Bad<v1::GetModelInfoRequest>(
          "GetModelInfo({})", [](auto&) {}, "id"),
      Bad<v1::GetModelInfoRequest>(
          "id '../tinyllama'", [](auto& r) { r.set_id("../tinyllama"); }, "id"),
      Bad<v1::GetModelInfoRequest>(
          "id '-x'", [](auto& r) { r.set_id("-x"); }, "id"),
      Bad<v1::DownloadModelRequest>(
          "DownloadModel({})", [](auto&) {}, "ids"),
      Bad<v1::DownloadModelRequest>(
          "DownloadModel(backend=99)",
          [](auto& r) {
            r.add_ids("tinyllama");
            r.set_backend(static_cast<v1::DownloadBackend>(99));
          },
          "backend"),
      Bad<v1::DownloadModelRequest>(
          "an id escaping the models directory",
          [](auto& r) {
            r.add_ids("tinyllama");
            r.add_ids("../../etc");
          },
          "ids[1]"),
      Bad<v1::DownloadModelRequest>(
          "id '/'", [](auto& r) { r.add_ids("/"); }, "ids[0]"),
      Bad<v1::VerifyModelRequest>(
          "VerifyModel({})", [](auto&) {}, "ids"),
      Bad<v1::VerifyModelRequest>(
          "ids and all",
          [](auto& r) {
            r.add_ids("tinyllama");
            r.set_all(true);
          },
          "all"),
      Bad<v1::VerifyModelRequest>(
          "id 'tinyllama/..'", [](auto& r) { r.add_ids("tinyllama/.."); }, "ids[0]"),
      Bad<v1::DeleteModelRequest>(
          "DeleteModel({})", [](auto&) {}, "id"),
      Bad<v1::DeleteModelRequest>(
          "DeleteModel({dry_run})", [](auto& r) { r.set_dry_run(true); }, "id"),
      Bad<v1::DeleteModelRequest>(
          "id '..'", [](auto& r) { r.set_id(".."); }, "id"),
      Bad<v1::DeleteModelRequest>(
          "id 'tinyllama/'", [](auto& r) { r.set_id("tinyllama/"); }, "id"),
      Bad<v1::LockModelsRequest>(
          "id '../x'", [](auto& r) { r.add_ids("../x"); }, "ids[0]"),
      Bad<v1::LockModelsRequest>(
          "unpin without ids", [](auto& r) { r.set_unpin(true); }, "ids"),
      Bad<v1::LockModelsRequest>(
          "update and unpin",
          [](auto& r) {
            r.add_ids("tinyllama");
            r.set_update(true);
            r.set_unpin(true);
          },
          "unpin"),
      // GitService: branch names through git check-ref-format, submodule names git accepts.
      Bad<v1::SyncRequest>(
          "branch '-x'", [](auto& r) { r.set_branch("-x"); }, "branch", "BAD_BRANCH_NAME"),
      Bad<v1::SyncRequest>(
          "branch 'a..b'", [](auto& r) { r.set_branch("a..b"); }, "branch", "BAD_BRANCH_NAME"),
      Bad<v1::SyncRequest>(
          "branch 'x.lock' in a preview",
          [](auto& r) {
            r.set_branch("x.lock");
            r.set_preview_only(true);
          },
          "branch", "BAD_BRANCH_NAME"),
      Bad<v1::SyncRequest>(
          "branch 'a b'", [](auto& r) { r.set_branch("a b"); }, "branch", "BAD_BRANCH_NAME"),
      // request_id (AIP-155): 1 to 64 of A-Z, a-z, 0-9, '-', '_', '.'.
      Bad<v1::DownloadModelRequest>(
          "a request_id with a space",
          [](auto& r) {
            r.add_ids("tinyllama");
            r.set_request_id("a b");
          },
          "request_id"),
      Bad<v1::VerifyModelRequest>(
          "a request_id of 65 characters",
          [](auto& r) {
            r.set_all(true);
            r.set_request_id(std::string(65, 'a'));
          },
          "request_id"),
      Bad<v1::PullRequest>(
          "a request_id with a slash", [](auto& r) { r.set_request_id("a/b"); }, "request_id"),
      Bad<v1::SyncRequest>(
          "a request_id that is not ASCII", [](auto& r) { r.set_request_id("\xc3\xa9"); },
          "request_id"),
      Bad<v1::UpdateSubmodulesRequest>(
          "a request_id with a colon",
          [](auto& r) {
            r.set_all(true);
            r.set_request_id("a:b");
          },
          "request_id"),
      Bad<v1::GetSubmoduleStatusRequest>(
          "GetSubmoduleStatus({})", [](auto&) {}, "name"),
      Bad<v1::GetSubmoduleStatusRequest>(
          "name '../x'", [](auto& r) { r.set_name("../x"); }, "name"),
      Bad<v1::UpdateSubmodulesRequest>(
          "UpdateSubmodules({})", [](auto&) {}, "names"),
      Bad<v1::UpdateSubmodulesRequest>(
          "UpdateSubmodules({force})", [](auto& r) { r.set_force(true); }, "names"),
      Bad<v1::UpdateSubmodulesRequest>(
          "names and all",
          [](auto& r) {
            r.add_names("reference/alpha");
            r.set_all(true);
          },
          "all"),
      Bad<v1::UpdateSubmodulesRequest>(
          "an empty name",
          [](auto& r) {
            r.add_names("reference/alpha");
            r.add_names("");
          },
          "names[1]"),
      Bad<v1::UpdateSubmodulesRequest>(
          "name 'reference/../..'", [](auto& r) { r.add_names("reference/../.."); }, "names[0]"),
      Bad<v1::ResetSubmoduleRequest>(
          "ResetSubmodule({})", [](auto&) {}, "name"),
      Bad<v1::ResetSubmoduleRequest>(
          "name '..'", [](auto& r) { r.set_name(".."); }, "name"),
      Bad<v1::SwitchSubmoduleBranchRequest>(
          "SwitchSubmoduleBranch({branch})", [](auto& r) { r.set_branch("main"); }, "name"),
      Bad<v1::SwitchSubmoduleBranchRequest>(
          "branch '-f'",
          [](auto& r) {
            r.set_name("reference/alpha");
            r.set_branch("-f");
          },
          "branch", "BAD_BRANCH_NAME"),
      Bad<v1::SwitchSubmoduleBranchRequest>(
          "a '..' after a backslash",
          [](auto& r) {
            r.set_name("a\\..");
            r.set_branch("main");
          },
          "name"),
      // OperationService: ids "op-" and 8 lower-case hex digits; filters that can match.
      Bad<v1::ListOperationsRequest>(
          "state UNSPECIFIED", [](auto& r) { r.add_states(v1::OPERATION_STATE_UNSPECIFIED); },
          "states[0]"),
      Bad<v1::ListOperationsRequest>(
          "state 99 after a good one",
          [](auto& r) {
            r.add_states(v1::OPERATION_STATE_RUNNING);
            r.add_states(static_cast<v1::OperationState>(99));
          },
          "states[1]"),
      Bad<v1::ListOperationsRequest>(
          "kind 'Model.Download'", [](auto& r) { r.set_kind("Model.Download"); }, "kind"),
      Bad<v1::ListOperationsRequest>(
          "kind 'model..download'", [](auto& r) { r.set_kind("model..download"); }, "kind"),
      Bad<v1::ListOperationsRequest>(
          "kind '../x'", [](auto& r) { r.set_kind("../x"); }, "kind"),
      Bad<v1::GetOperationRequest>(
          "GetOperation({})", [](auto&) {}, "id"),
      Bad<v1::GetOperationRequest>(
          "id 'op-xyz'", [](auto& r) { r.set_id("op-xyz"); }, "id"),
      Bad<v1::GetOperationRequest>(
          "id 'OP-DEADBEEF'", [](auto& r) { r.set_id("OP-DEADBEEF"); }, "id"),
      Bad<v1::GetOperationRequest>(
          "id with 9 digits", [](auto& r) { r.set_id("op-123456789"); }, "id"),
      Bad<v1::GetOperationRequest>(
          "id '../op-deadbeef'", [](auto& r) { r.set_id("../op-deadbeef"); }, "id"),
      Bad<v1::WatchOperationRequest>(
          "WatchOperation({after_sequence})", [](auto& r) { r.set_after_sequence(UINT64_MAX); },
          "id"),
      Bad<v1::WatchOperationRequest>(
          "id 'op-dead/eef'", [](auto& r) { r.set_id("op-dead/eef"); }, "id"),
      Bad<v1::CancelOperationRequest>(
          "CancelOperation({})", [](auto&) {}, "id"),
      Bad<v1::CancelOperationRequest>(
          "id 'op-7f3a2c1'", [](auto& r) { r.set_id("op-7f3a2c1"); }, "id"),
      // AgentService: an instance id of the form HostInfo.instance_id has, or none.
      Bad<v1::WatchEventsRequest>(
          "agent_instance_id in upper case",
          [](auto& r) { r.set_agent_instance_id("0123456789ABCDEF0123456789ABCDEF"); },
          "agent_instance_id"),
      Bad<v1::WatchEventsRequest>(
          "agent_instance_id of 31 digits",
          [](auto& r) { r.set_agent_instance_id(std::string(31, 'a')); }, "agent_instance_id"),
      Bad<v1::WatchEventsRequest>(
          "agent_instance_id '../x'", [](auto& r) { r.set_agent_instance_id("../x"); },
          "agent_instance_id"),
      // WorkerService: ids, ports and backends of the proto's form. DevService's setup: what its
      // comments promise, for when it arrives.
      Bad<v1::SpawnWorkerRequest>(
          "SpawnWorker({})", [](auto&) {}, "backend"),
      Bad<v1::SpawnWorkerRequest>(
          "port 80",
          [](auto& r) {
            r.set_backend(v1::BACKEND_CPU);
            r.set_port(80);
          },
          "port"),
      Bad<v1::SpawnWorkerRequest>(
          "port 70000",
          [](auto& r) {
            r.set_backend(v1::BACKEND_CPU);
            r.set_port(70000);
          },
          "port"),
      Bad<v1::SpawnWorkerRequest>(
          "worker id 'Worker/0'",
          [](auto& r) {
            r.set_backend(v1::BACKEND_CPU);
            r.set_worker_id("Worker/0");
          },
          "worker_id"),
      Bad<v1::SpawnWorkerRequest>(
          "worker id '-x'",
          [](auto& r) {
            r.set_backend(v1::BACKEND_CUDA);
            r.set_worker_id("-x");
          },
          "worker_id"),
      Bad<v1::SpawnWorkerRequest>(
          "worker id of 64 characters",
          [](auto& r) {
            r.set_backend(v1::BACKEND_CPU);
            r.set_worker_id(std::string(64, 'w'));
          },
          "worker_id"),
      Bad<v1::SpawnWorkerRequest>(
          "a ready_timeout of 0",
          [](auto& r) {
            r.set_backend(v1::BACKEND_CPU);
            r.mutable_ready_timeout()->set_seconds(0);
          },
          "ready_timeout"),
      Bad<v1::SpawnWorkerRequest>(
          "model id '../x'",
          [](auto& r) {
            r.set_backend(v1::BACKEND_CPU);
            r.set_model_id("../x");
          },
          "model_id"),
      Bad<v1::StopWorkerRequest>(
          "StopWorker({})", [](auto&) {}, "ids"),
      Bad<v1::StopWorkerRequest>(
          "ids and all",
          [](auto& r) {
            r.add_ids("worker-cpu-0");
            r.set_all(true);
          },
          "all"),
      Bad<v1::StopWorkerRequest>(
          "a bad worker id", [](auto& r) { r.add_ids("Worker_1"); }, "ids[0]"),
      Bad<v1::StopWorkerRequest>(
          "pid 1", [](auto& r) { r.add_pids(1); }, "pids[0]"),
      Bad<v1::StopWorkerRequest>(
          "a negative timeout",
          [](auto& r) {
            r.add_ids("worker-cpu-0");
            r.mutable_timeout()->set_seconds(-1);
          },
          "timeout"),
      Bad<v1::StopWorkerRequest>(
          "a timeout over an hour",
          [](auto& r) {
            r.set_all(true);
            r.mutable_timeout()->set_seconds(3601);
          },
          "timeout"),
      Bad<v1::GetWorkerLogsRequest>(
          "GetWorkerLogs({})", [](auto&) {}, "id"),
      Bad<v1::GetWorkerLogsRequest>(
          "id '..'", [](auto& r) { r.set_id(".."); }, "id"),
      Bad<v1::GetWorkerLogsRequest>(
          "tail_lines over 1000000",
          [](auto& r) {
            r.set_id("worker-cpu-0");
            r.set_tail_lines(1000001);
          },
          "tail_lines"),
      Bad<v1::RunDoctorRequest>(
          "an unknown check", [](auto& r) { r.add_names("no.such"); }, "names[0]"),
      Bad<v1::RunDoctorRequest>(
          "a misspelt check after a known one",
          [](auto& r) {
            r.add_names("git");
            r.add_names("gpu.cdua");
          },
          "names[1]"),
      Bad<v1::RunSetupRequest>(
          "an unknown step", [](auto& r) { r.add_skip_steps("no.such"); }, "skip_steps[0]"),
      Bad<v1::RunSetupRequest>(
          "a misspelt step after a known one",
          [](auto& r) {
            r.add_skip_steps("model");
            r.add_skip_steps("submodule");
          },
          "skip_steps[1]"),
      Bad<v1::RunSetupRequest>(
          "model id '../x'", [](auto& r) { r.set_model_id("../x"); }, "model_id"),
      Bad<v1::RunSetupRequest>(
          "model id 'TinyLlama'",
          [](auto& r) {
            r.set_dry_run(true);
            r.set_model_id("TinyLlama");
          },
          "model_id"),
  };
}

class RequestValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    git_.ExportEnv();
    checkout_ = git_.Clone("checkout");
    Config config;
    config.repo_root = checkout_;
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/true, {}, config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    channel_ = agent_.server->InProcessChannel();
    // A model on disk (unverified: no manifest), for the RPCs that would verify or delete it.
    const CatalogModel& model = agent_.context->catalog->models().front();
    testing::WriteFileBytes(temp_.path() + "/models/" + model.dir + "/" + model.file, "GGUF...");
    before_ = Disk();
  }

  // The models and state directories and the checkout, .git included.
  std::map<std::string, std::string> Disk() const {
    std::map<std::string, std::string> disk = testing::SnapshotTree(temp_.path());
    for (auto& [path, content] : testing::SnapshotTree(checkout_)) {
      disk["checkout/" + path] = std::move(content);
    }
    return disk;
  }

  // Sends `bad` and checks the answer, that nothing streamed, started or changed on disk.
  void Expect(const Case& bad) {
    const MethodDescriptor* method = MethodFor(*bad.request);
    ASSERT_NE(method, nullptr) << bad.request->GetTypeName();
    SCOPED_TRACE(method->full_name() + ": " + bad.what);
    const Reply reply = Calls().at(method->input_type()->full_name())(channel_, *bad.request);
    const v1::ErrorHint hint = testing::ErrorHintOf(reply.status);
    if (kNotServedYet.count(method->service()->full_name()) > 0 ||
        kNotServedYet.count(method->full_name()) > 0) {
      EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
      EXPECT_EQ(hint.reason(), "NOT_AVAILABLE_YET");
    } else {
      EXPECT_EQ(reply.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
          << reply.status.error_message();
      EXPECT_EQ(hint.reason(), bad.reason) << reply.status.error_message();
      EXPECT_EQ(hint.metadata().count("field") ? hint.metadata().at("field") : "(none)", bad.field)
          << reply.status.error_message();
      EXPECT_FALSE(hint.hint().empty());
    }
    EXPECT_EQ(reply.messages, 0);
    EXPECT_TRUE(agent_.context->operations->List().empty());
    std::map<std::string, std::string> after = Disk();
    EXPECT_TRUE(after == before_) << "the disk changed";
    before_ = std::move(after);  // the next case is judged on its own
  }

  testing::GitFixture git_;
  testing::TempDir temp_;
  std::string checkout_;
  testing::TestAgent agent_;
  std::shared_ptr<grpc::Channel> channel_;
  std::map<std::string, std::string> before_;
};

TEST(RequestValidationTableTest, EveryRpcOfEveryServiceHasACall) {
  std::set<std::string> services;
  for (const auto* type :
       {v1::ListCatalogRequest::descriptor(), v1::GetStatusRequest::descriptor(),
        v1::GetOperationRequest::descriptor(), v1::GetHostInfoRequest::descriptor(),
        v1::StopWorkerRequest::descriptor(), v1::RunDoctorRequest::descriptor()}) {
    for (int i = 0; i < type->file()->service_count(); ++i) {
      services.insert(type->file()->service(i)->full_name());
    }
  }
  EXPECT_EQ(services, std::set<std::string>(kServices.begin(), kServices.end()));
  const std::vector<const MethodDescriptor*> methods = AllMethods();
  EXPECT_EQ(methods.size(), Calls().size());
  for (const MethodDescriptor* method : methods) {
    EXPECT_EQ(Calls().count(method->input_type()->full_name()), 1u) << method->full_name();
  }
}

TEST_F(RequestValidationTest, EveryRpcRefusesWhatNoRequestMayHold) {
  for (const MethodDescriptor* method : AllMethods()) {
    for (const Case& bad : GeneratedCases(*method)) Expect(bad);
  }
}

TEST_F(RequestValidationTest, EveryRpcRefusesWhatItsProtoCommentForbids) {
  std::set<std::string> covered;
  for (const Case& bad : HandWrittenCases()) {
    Expect(bad);
    covered.insert(bad.request->GetDescriptor()->full_name());
  }
  // Each RPC whose request names something (a string field: ids, names, branches, filters) has
  // rows of its own.
  for (const MethodDescriptor* method : AllMethods()) {
    bool names_something = false;
    for (int i = 0; i < method->input_type()->field_count(); ++i) {
      if (method->input_type()->field(i)->type() == FieldDescriptor::TYPE_STRING) {
        names_something = true;
      }
    }
    if (!names_something) continue;
    EXPECT_EQ(covered.count(method->input_type()->full_name()), 1u) << method->full_name();
  }
}

// What the rules must not refuse: requests at the edges of what is allowed get past them.
TEST_F(RequestValidationTest, RequestsAtTheEdgesPassTheRules) {
  auto call = [&](const Message& request) {
    return Calls().at(request.GetDescriptor()->full_name())(channel_, request).status;
  };
  v1::GetModelInfoRequest longest_id;
  longest_id.set_id(std::string(64, 'a'));
  EXPECT_EQ(testing::ErrorHintOf(call(longest_id)).reason(), "MODEL_NOT_FOUND");
  v1::GetOperationRequest unknown_operation;
  unknown_operation.set_id("op-0123abcd");
  EXPECT_EQ(testing::ErrorHintOf(call(unknown_operation)).reason(), "OPERATION_NOT_FOUND");
  v1::ListOperationsRequest every_state;
  for (int state = 1; state <= 5; ++state) {
    every_state.add_states(static_cast<v1::OperationState>(state));
  }
  every_state.set_kind("git.submodules.update");
  EXPECT_TRUE(call(every_state).ok());
  v1::GetSubmoduleStatusRequest submodule;
  submodule.set_name("reference/alpha");
  EXPECT_TRUE(call(submodule).ok());
  v1::ListCatalogRequest catalog;
  for (const CatalogModel& model : agent_.context->catalog->models()) catalog.add_ids(model.id);
  EXPECT_TRUE(call(catalog).ok());
  v1::VerifyModelRequest verify_all;
  verify_all.set_all(true);
  verify_all.set_request_id("0b5f3b7e-9c1d-4e8a-a3f2-6d1c2b9e8f70");
  EXPECT_TRUE(call(verify_all).ok());  // the model written in SetUp (its result says not ok)
  v1::RunDoctorRequest every_check;
  for (const char* name :
       {"git", "hf.cli", "rust.toolchain", "python.converter", "git.submodules", "disk.models",
        "gpu.cuda", "gpu.cuda.uvm", "gpu.metal", "config", "hub.reachable", "git"}) {
    every_check.add_names(name);
  }
  EXPECT_TRUE(call(every_check).ok());
}

}  // namespace
}  // namespace llorch
