// WorkerService at the gRPC level, against the fake llorch-candled (tests/support/fake_worker.cc)
// under the real workers' names: spawn to ready (callback of either body shape, or /health), the
// failure paths with exit code and log tail, every check before a worker starts, supervision
// (exits seen at once and published on AgentService.WatchEvents, restart on-failure with its
// backoff and start limit), DeleteModel refusing a model a worker serves, and stopping: graceful,
// escalated to SIGKILL with the whole group, never a reused pid, not restarted afterwards, by pid
// for an unmanaged worker process, with the GPU memory check of a CUDA worker.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "agent/workers/proc_fs.h"
#include "agent/workers/process_identity.h"
#include "agent/workers/worker_ports.h"
#include "agent/workers/worker_record.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/worker.grpc.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/fake_workers.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::testing::HasSubstr;

constexpr char kModel[] = "tinyllama";
constexpr char kModelDir[] = "tinyllama";
constexpr char kModelFile[] = "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf";

class WorkerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = temp_.path() + "/bin";
    testing::WriteWorkerBinDir(bin_, FAKE_WORKER, {0, 1});
    // Each test runs in a process of its own (gtest_discover_tests), so its environment is its
    // own: the agent looks workers and nvidia-smi up in PATH, and workers inherit the switches.
    setenv("PATH", (bin_ + ":" + getenv("PATH")).c_str(), 1);
    config_.workers.ready_timeout_seconds = 30;
    // Tests run in parallel: each agent gets a callback port of its own.
    config_.workers.callback_port = testing::UnusedPort();
  }

  void TearDown() override { testing::KillRecordedWorkers(temp_.path() + "/state"); }

  void StartAgent() {
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/false, {}, config_);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    stub_ = v1::WorkerService::NewStub(agent_.server->InProcessChannel());
  }

  void PlaceModel(bool verified = true) {
    testing::PlaceModel(temp_.path() + "/models", kModelDir, kModelFile, verified);
  }

  // The final event of an operation's stream.
  static v1::OperationEvent FinalEvent(grpc::ClientReader<v1::OperationEvent>& stream) {
    v1::OperationEvent event;
    v1::OperationEvent last;
    while (stream.Read(&event)) last = event;
    grpc::Status status = stream.Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(last.final());
    return last;
  }

  // The spawn's final event.
  v1::OperationEvent Spawn(v1::SpawnWorkerRequest request) {
    grpc::ClientContext context;
    return FinalEvent(*stub_->SpawnWorker(&context, request));
  }

  static v1::SpawnWorkerRequest Request(v1::Backend backend, int port) {
    v1::SpawnWorkerRequest request;
    request.set_backend(backend);
    request.set_model_id(kModel);
    request.set_port(port);
    request.set_wait_ready(true);
    return request;
  }

  static v1::Worker WorkerOf(const v1::OperationEvent& event) {
    EXPECT_EQ(event.state(), v1::OPERATION_STATE_SUCCEEDED) << event.error().message();
    v1::SpawnWorkerResult result;
    EXPECT_TRUE(event.result().UnpackTo(&result));
    return result.worker();
  }

  std::vector<v1::Worker> List(bool include_exited) {
    v1::ListWorkersRequest request;
    request.set_include_exited(include_exited);
    v1::ListWorkersResponse response;
    grpc::ClientContext context;
    grpc::Status status = stub_->ListWorkers(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return {response.workers().begin(), response.workers().end()};
  }

  // The worker changes on the agent's event stream from its first event on, until `done` holds
  // for them (or a minute passed).
  std::vector<v1::WorkerChange> WorkerEventsUntil(
      const std::function<bool(const std::vector<v1::WorkerChange>&)>& done) {
    auto stub = v1::AgentService::NewStub(agent_.server->InProcessChannel());
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
    auto stream = stub->WatchEvents(&context, v1::WatchEventsRequest());
    std::vector<v1::WorkerChange> changes;
    v1::AgentEvent event;
    while (!done(changes) && stream->Read(&event)) {
      if (event.has_worker()) changes.push_back(event.worker());
    }
    context.TryCancel();
    stream->Finish();
    return changes;
  }

  // Until a change of `kind` arrived.
  std::vector<v1::WorkerChange> WorkerEventsUntilA(v1::WorkerChange::Kind kind) {
    return WorkerEventsUntil([kind](const std::vector<v1::WorkerChange>& changes) {
      return !changes.empty() && changes.back().kind() == kind;
    });
  }

  static std::vector<std::string> Kinds(const std::vector<v1::WorkerChange>& changes) {
    std::vector<std::string> kinds;
    for (const v1::WorkerChange& change : changes) {
      kinds.push_back(v1::WorkerChange::Kind_Name(change.kind()));
    }
    return kinds;
  }

  // The stop's result.
  v1::StopWorkerResult Stop(const v1::StopWorkerRequest& request) {
    grpc::ClientContext context;
    const v1::OperationEvent last = FinalEvent(*stub_->StopWorker(&context, request));
    EXPECT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED) << last.error().message();
    v1::StopWorkerResult result;
    EXPECT_TRUE(last.result().UnpackTo(&result));
    return result;
  }

  static v1::StopWorkerRequest StopIds(const std::vector<std::string>& ids, int timeout = 0) {
    v1::StopWorkerRequest request;
    for (const std::string& id : ids) request.add_ids(id);
    if (timeout > 0) request.mutable_timeout()->set_seconds(timeout);
    return request;
  }

  static v1::StopWorkerRequest StopPids(const std::vector<int64_t>& pids) {
    v1::StopWorkerRequest request;
    for (int64_t pid : pids) request.add_pids(pid);
    return request;
  }

  // The fake worker started by the test itself, as nobody's worker (no callback to answer).
  std::unique_ptr<testing::BackgroundProcess> StartUnmanaged(int port) {
    testing::CommandOptions options;
    options.env = testing::CurrentEnvironment();
    (*options.env)["FAKE_WORKER_NO_CALLBACK"] = "1";
    return std::make_unique<testing::BackgroundProcess>(
        std::vector<std::string>{bin_ + "/llorch-cpu-candled", "--worker-id", "by-hand", "--model",
                                 "/models/x.gguf", "--port", std::to_string(port), "--callback-url",
                                 "http://127.0.0.1:1/ready"},
        options, temp_.path() + "/by-hand.log");
  }

  std::string Reason(const v1::OperationEvent& event) {
    EXPECT_EQ(event.state(), v1::OPERATION_STATE_FAILED);
    return testing::ErrorHintOf(event.error()).reason();
  }

  testing::TempDir temp_;
  std::string bin_;
  Config config_;
  testing::TestAgent agent_;
  std::unique_ptr<v1::WorkerService::Stub> stub_;
};

TEST_F(WorkerServiceTest, SpawnWaitsForTheReadyCallbackAndRecordsTheWorker) {
  PlaceModel();
  StartAgent();
  const int port = testing::UnusedPort();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, port)));
  EXPECT_EQ(worker.id(), "worker-cpu-0");
  EXPECT_EQ(worker.state(), v1::WORKER_STATE_READY);
  EXPECT_EQ(worker.port(), static_cast<uint32_t>(port));
  EXPECT_GT(worker.pid(), 0);
  EXPECT_EQ(worker.vram_bytes(), 123456789u);
  EXPECT_EQ(worker.uri(), "http://localhost:" + std::to_string(port));
  EXPECT_EQ(worker.model_path(), temp_.path() + "/models/" + kModelDir + "/" + kModelFile);
  EXPECT_THAT(std::vector<std::string>(worker.argv().begin(), worker.argv().end()),
              ::testing::ElementsAre(bin_ + "/llorch-cpu-candled", "--worker-id", "worker-cpu-0",
                                     "--model", worker.model_path(), "--port", std::to_string(port),
                                     "--callback-url", HasSubstr("http://127.0.0.1:")));
  EXPECT_EQ(worker.log_path(), temp_.path() + "/state/logs/worker-cpu-0.log");
  // The worker got the 2xx it needs to go on (it logs so after the agent has answered).
  EXPECT_TRUE(testing::WaitFor([&] {
    return testing::ReadFileBytes(worker.log_path()).find("ready callback accepted") !=
           std::string::npos;
  })) << testing::ReadFileBytes(worker.log_path());
  // The process is really there, serving on its port, in a session of its own.
  httplib::Client client("127.0.0.1", port);
  httplib::Result health = client.Get("/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_EQ(getsid(static_cast<pid_t>(worker.pid())), worker.pid());
  // Its state file names it.
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(temp_.path() + "/state");
  ASSERT_TRUE(records.ok());
  absl::StatusOr<WorkerRecord> record = records->Read("worker-cpu-0");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_EQ(record->pid, worker.pid());
  EXPECT_NE(record->start_time, 0u);
  EXPECT_THAT(record->executable, HasSubstr("fake_worker"));

  const std::vector<v1::Worker> listed = List(false);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id(), "worker-cpu-0");
  EXPECT_EQ(listed[0].state(), v1::WORKER_STATE_READY);
  EXPECT_EQ(listed[0].pid(), worker.pid());
}

TEST_F(WorkerServiceTest, AWorkerProgramThatExecsIntoAnotherIsStillTheWorker) {
  // A wrapper script (or a `#!/usr/bin/env` interpreter line) execs the real program: same pid
  // and start time, another /proc/PID/exe than at the spawn. It is still the worker, not lost.
  PlaceModel();
  const std::string wrapper = bin_ + "/llorch-cpu-candled";
  std::filesystem::remove(wrapper);
  std::ofstream(wrapper) << "#!/bin/sh\nsleep 0.2\nexec " << FAKE_WORKER << " \"$@\"\n";
  std::filesystem::permissions(wrapper, std::filesystem::perms::owner_all);
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  EXPECT_EQ(worker.state(), v1::WORKER_STATE_READY);
  const std::vector<v1::Worker> listed = List(false);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state(), v1::WORKER_STATE_READY);
  EXPECT_EQ(listed[0].pid(), worker.pid());
  // From its ready report on, its identity is the program it became.
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(temp_.path() + "/state");
  ASSERT_TRUE(records.ok());
  absl::StatusOr<WorkerRecord> record = records->Read("worker-cpu-0");
  ASSERT_TRUE(record.ok()) << record.status();
  EXPECT_THAT(record->executable, HasSubstr("fake_worker"));
}

TEST_F(WorkerServiceTest, TheLaterCallbackBodyShapeIsAcceptedToo) {
  setenv("FAKE_WORKER_NEW_BODY", "1", 1);
  PlaceModel();
  StartAgent();
  const int port = testing::UnusedPort();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, port)));
  EXPECT_EQ(worker.state(), v1::WORKER_STATE_READY);
  EXPECT_EQ(worker.uri(), "http://localhost:" + std::to_string(port));
}

TEST_F(WorkerServiceTest, ABackendConfiguredForHealthIsReadyWhenHealthAnswers) {
  setenv("FAKE_WORKER_NO_CALLBACK", "1", 1);
  setenv("FAKE_WORKER_READY_DELAY_MS", "500", 1);
  config_.workers.cpu.ready = "health";
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  EXPECT_EQ(worker.state(), v1::WORKER_STATE_READY);
  EXPECT_EQ(worker.vram_bytes(), 123456789u);
}

TEST_F(WorkerServiceTest, AHealthBackendWorkerSpawnedWithoutWaitingBecomesReadyToo) {
  setenv("FAKE_WORKER_NO_CALLBACK", "1", 1);
  setenv("FAKE_WORKER_READY_DELAY_MS", "300", 1);
  config_.workers.cpu.ready = "health";
  PlaceModel();
  StartAgent();
  v1::SpawnWorkerRequest request = Request(v1::BACKEND_CPU, testing::UnusedPort());
  request.set_wait_ready(false);
  EXPECT_EQ(WorkerOf(Spawn(request)).state(), v1::WORKER_STATE_STARTING);
  // The agent probes /health on its own.
  const std::vector<v1::WorkerChange> changes = WorkerEventsUntilA(v1::WorkerChange::KIND_READY);
  EXPECT_THAT(Kinds(changes), ::testing::ElementsAre("KIND_STARTED", "KIND_READY"));
  const std::vector<v1::Worker> listed = List(false);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state(), v1::WORKER_STATE_READY);
  EXPECT_EQ(listed[0].vram_bytes(), 123456789u);
}

TEST_F(WorkerServiceTest, AWorkerThatExitsFailsTheSpawnWithItsExitCodeAndLogTail) {
  setenv("FAKE_WORKER_CRASH", "3", 1);
  PlaceModel();
  StartAgent();
  const v1::OperationEvent last = Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()));
  EXPECT_EQ(Reason(last), "WORKER_EXITED");
  EXPECT_THAT(last.error().message(), HasSubstr("exited with code 3"));
  EXPECT_THAT(last.error().message(), HasSubstr("fake worker crashing as asked"));
  EXPECT_TRUE(List(false).empty());
  const std::vector<v1::Worker> all = List(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state(), v1::WORKER_STATE_FAILED);
  EXPECT_EQ(all[0].exit_code(), 3);
}

TEST_F(WorkerServiceTest, AWorkerThatNeverCallsBackIsStoppedAtTheTimeout) {
  setenv("FAKE_WORKER_NO_CALLBACK", "1", 1);
  config_.workers.ready_timeout_seconds = 1;
  PlaceModel();
  StartAgent();
  const v1::OperationEvent last = Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()));
  EXPECT_EQ(Reason(last), "WORKER_NOT_READY");
  EXPECT_THAT(last.error().message(), HasSubstr("model loaded"));
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(temp_.path() + "/state");
  ASSERT_TRUE(records.ok());
  absl::StatusOr<WorkerRecord> record = records->Read("worker-cpu-0");
  ASSERT_TRUE(record.ok());
  EXPECT_FALSE(IsRecordedProcessAlive(*record));
  const std::vector<v1::Worker> all = List(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state(), v1::WORKER_STATE_FAILED);
}

TEST_F(WorkerServiceTest, CudaPassesTheDeviceAndChecksTheGpuWithNvidiaSmi) {
  PlaceModel();
  // CUDA's own default order; the worker must number GPUs as nvidia-smi does.
  setenv("CUDA_DEVICE_ORDER", "FASTEST_FIRST", 1);
  StartAgent();
  v1::SpawnWorkerRequest missing = Request(v1::BACKEND_CUDA, testing::UnusedPort());
  missing.set_gpu(2);
  const v1::OperationEvent refused = Spawn(missing);
  EXPECT_EQ(Reason(refused), "GPU_NOT_FOUND");
  EXPECT_THAT(refused.error().message(), HasSubstr("GPUs 0, 1"));

  v1::SpawnWorkerRequest second = Request(v1::BACKEND_CUDA, testing::UnusedPort());
  second.set_gpu(1);
  const v1::Worker worker = WorkerOf(Spawn(second));
  EXPECT_EQ(worker.id(), "worker-cuda-1");
  EXPECT_THAT(std::vector<std::string>(worker.argv().begin(), worker.argv().end()),
              ::testing::IsSupersetOf({"--cuda-device", "1"}));
  const std::string environ_file = absl::StrCat("/proc/", worker.pid(), "/environ");
  const std::vector<std::string> environment =
      absl::StrSplit(testing::ReadFileBytes(environ_file), '\0', absl::SkipEmpty());
  EXPECT_THAT(environment, ::testing::Contains("CUDA_DEVICE_ORDER=PCI_BUS_ID"));
  EXPECT_THAT(environment, ::testing::Not(::testing::Contains("CUDA_DEVICE_ORDER=FASTEST_FIRST")));
}

TEST_F(WorkerServiceTest, ChecksRefuseBeforeAnyWorkerStarts) {
  StartAgent();
  // No model on disk.
  EXPECT_EQ(Reason(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()))), "MODEL_NOT_DOWNLOADED");
  // On disk without a manifest.
  PlaceModel(/*verified=*/false);
  EXPECT_EQ(Reason(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()))), "MODEL_UNVERIFIED");
  PlaceModel();
  // Metal runs on macOS only.
  EXPECT_EQ(Reason(Spawn(Request(v1::BACKEND_METAL, testing::UnusedPort()))),
            "BACKEND_UNSUPPORTED");
  // A port something listens on.
  httplib::Server squatter;
  const int taken = squatter.bind_to_any_port("0.0.0.0");
  const v1::OperationEvent in_use = Spawn(Request(v1::BACKEND_CPU, taken));
  EXPECT_EQ(Reason(in_use), "PORT_IN_USE");
  EXPECT_THAT(in_use.error().message(), HasSubstr(std::to_string(taken)));
  EXPECT_FALSE(std::filesystem::exists(temp_.path() + "/state/workers/worker-cpu-0.json"));
  // An id a running worker has.
  EXPECT_EQ(WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()))).state(),
            v1::WORKER_STATE_READY);
  EXPECT_EQ(Reason(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()))), "WORKER_EXISTS");
  EXPECT_EQ(List(true).size(), 1u);
}

TEST_F(WorkerServiceTest, ACallbackPortAnotherProgramListensOnIsRefusedNotShared) {
  // Another agent's listener, bound as httplib binds by default (SO_REUSEPORT): sharing the port
  // would hand it some of this agent's ready callbacks.
  httplib::Server other_agent;
  const int port = other_agent.bind_to_any_port("127.0.0.1");
  config_.workers.callback_port = port;
  PlaceModel();
  StartAgent();
  const v1::OperationEvent last = Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()));
  EXPECT_EQ(Reason(last), "CALLBACK_UNAVAILABLE");
  EXPECT_THAT(last.error().message(), HasSubstr(std::to_string(port)));
  EXPECT_TRUE(List(true).empty());
}

TEST_F(WorkerServiceTest, AMissingWorkerProgramIsNamed) {
  config_.workers.cpu.argv = {"llorch-cpu-candled-missing", "--port", "{port}"};
  PlaceModel();
  StartAgent();
  const v1::OperationEvent last = Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort()));
  EXPECT_EQ(Reason(last), "WORKER_BINARY_MISSING");
  EXPECT_THAT(last.error().message(), HasSubstr("llorch-cpu-candled-missing"));
}

TEST_F(WorkerServiceTest, TheDefaultPortIsTheFirstFreeOneOfTheRange) {
  PlaceModel();
  // Below any Linux default ephemeral range (default ports skip it).
  httplib::Server squatter;
  int first = 20000;
  while (!squatter.bind_to_port("0.0.0.0", first)) ++first;
  config_.workers.port_first = first;
  config_.workers.port_last = first + 20;
  StartAgent();
  v1::SpawnWorkerRequest request = Request(v1::BACKEND_CPU, 0);
  const v1::Worker worker = WorkerOf(Spawn(request));
  EXPECT_GT(worker.port(), static_cast<uint32_t>(first));
  EXPECT_LE(worker.port(), static_cast<uint32_t>(first + 20));
}

TEST_F(WorkerServiceTest, ConcurrentSpawnsWithDefaultPortsEachGetTheirOwnPort) {
  // Each spawn sees every port free until a worker binds one; without the agent holding a
  // planned port, spawns at once would pick the same one and all but one worker would fail.
  PlaceModel();
  // Below any Linux default ephemeral range; busy ports in it are skipped.
  config_.workers.port_first = 21000;
  config_.workers.port_last = 21199;
  StartAgent();
  constexpr int kSpawns = 8;
  std::vector<v1::OperationEvent> finals(kSpawns);
  std::vector<std::thread> spawns;
  for (int i = 0; i < kSpawns; ++i) {
    spawns.emplace_back([this, i, &finals] {
      v1::SpawnWorkerRequest request = Request(v1::BACKEND_CPU, 0);
      request.set_worker_id(absl::StrCat("at-once-", i));
      finals[i] = Spawn(request);
    });
  }
  for (std::thread& spawn : spawns) spawn.join();
  std::set<uint32_t> ports;
  for (const v1::OperationEvent& last : finals) ports.insert(WorkerOf(last).port());
  EXPECT_EQ(ports.size(), static_cast<size_t>(kSpawns));
  EXPECT_EQ(List(false).size(), static_cast<size_t>(kSpawns));
}

TEST_F(WorkerServiceTest, APortAnotherSpawnHoldsIsNeitherChosenNorTaken) {
  // A CLI without an agent, spawning at the same time, holds the lock on its port's file until
  // its worker's state file names the port: this agent neither chooses nor takes that port.
  PlaceModel();
  config_.workers.port_first = 21300;
  config_.workers.port_last = 21399;
  const std::optional<int> first = FirstFreePort(21300, 21399, {});
  ASSERT_TRUE(first.has_value());
  const std::string ports = temp_.path() + "/state/ports";
  std::filesystem::create_directories(ports);
  const std::string lock_file = ports + "/" + std::to_string(*first) + ".lock";
  const int other_spawn = open(lock_file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  ASSERT_GE(other_spawn, 0);
  ASSERT_EQ(flock(other_spawn, LOCK_EX), 0);
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, 0)));
  EXPECT_NE(worker.port(), static_cast<uint32_t>(*first));
  v1::SpawnWorkerRequest same = Request(v1::BACKEND_CPU, *first);
  same.set_worker_id("same-port");
  EXPECT_EQ(Reason(Spawn(same)), "PORT_IN_USE");
  // Once the other spawn let go (its worker recorded, or the spawn failed), the port is free.
  close(other_spawn);
  EXPECT_EQ(WorkerOf(Spawn(same)).port(), static_cast<uint32_t>(*first));
}

TEST_F(WorkerServiceTest, FollowingALogEndsWithTheExitCodeOfAWorkerThisAgentStarted) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  ASSERT_TRUE(testing::WaitFor([&] {
    return testing::ReadFileBytes(worker.log_path()).find("ready callback accepted") !=
           std::string::npos;
  }));
  v1::GetWorkerLogsRequest request;
  request.set_id(worker.id());
  request.set_follow(true);
  grpc::ClientContext context;
  auto stream = stub_->GetWorkerLogs(&context, request);
  v1::LogLine line;
  while (stream->Read(&line) && line.text().find("ready callback accepted") == std::string::npos) {
    EXPECT_EQ(line.stream(), v1::LogLine::STREAM_STDOUT);
  }
  ASSERT_EQ(kill(-static_cast<pid_t>(worker.pid()), SIGKILL), 0);
  std::vector<v1::LogLine> rest;
  while (stream->Read(&line)) rest.push_back(line);
  EXPECT_TRUE(stream->Finish().ok());
  ASSERT_FALSE(rest.empty());
  EXPECT_EQ(rest.back().stream(), v1::LogLine::STREAM_AGENT);
  EXPECT_EQ(rest.back().text(), "worker worker-cpu-0 exited with code 137");
}

TEST_F(WorkerServiceTest, LogsOfAnUnknownWorkerAreNotFound) {
  StartAgent();
  v1::GetWorkerLogsRequest request;
  request.set_id("worker-cpu-9");
  grpc::ClientContext context;
  auto stream = stub_->GetWorkerLogs(&context, request);
  v1::LogLine line;
  EXPECT_FALSE(stream->Read(&line));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(testing::ErrorHintOf(status).reason(), "WORKER_NOT_FOUND");
}

TEST_F(WorkerServiceTest, AWorkerThatCrashesAfterReadyIsRecordedFailedWithItsCodeAtOnce) {
  setenv("FAKE_WORKER_EXIT_AFTER_READY", "5", 1);
  setenv("FAKE_WORKER_EXIT_DELAY_MS", "200", 1);
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  // Nobody lists: the agent sees the exit itself and says so on its event stream.
  const std::vector<v1::WorkerChange> changes = WorkerEventsUntilA(v1::WorkerChange::KIND_EXITED);
  EXPECT_THAT(Kinds(changes), ::testing::ElementsAre("KIND_STARTED", "KIND_READY", "KIND_EXITED"));
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.back().worker().id(), "worker-cpu-0");
  EXPECT_EQ(changes.back().worker().state(), v1::WORKER_STATE_FAILED);
  EXPECT_EQ(changes.back().worker().exit_code(), 5);
  EXPECT_EQ(changes.front().worker().pid(), worker.pid());
  // And in its state file.
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(temp_.path() + "/state");
  ASSERT_TRUE(records.ok());
  absl::StatusOr<WorkerRecord> record = records->Read("worker-cpu-0");
  ASSERT_TRUE(record.ok());
  EXPECT_EQ(record->exit_code, 5);
  EXPECT_NE(record->exited_at_ms, 0);
}

TEST_F(WorkerServiceTest, AWorkerKilledByASignalExitsWith128PlusTheSignal) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  ASSERT_EQ(kill(static_cast<pid_t>(worker.pid()), SIGKILL), 0);
  const std::vector<v1::WorkerChange> changes = WorkerEventsUntilA(v1::WorkerChange::KIND_EXITED);
  ASSERT_FALSE(changes.empty());
  EXPECT_EQ(changes.back().worker().exit_code(), 128 + SIGKILL);
  const std::vector<v1::Worker> all = List(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state(), v1::WORKER_STATE_FAILED);
  EXPECT_EQ(all[0].exit_code(), 137);
  EXPECT_EQ(all[0].restarts(), 0u);
}

TEST_F(WorkerServiceTest, RestartOnFailureRestartsWithGrowingDelaysAndGivesUpAtTheStartLimit) {
  setenv("FAKE_WORKER_EXIT_AFTER_READY", "3", 1);
  config_.workers.restart_backoff_initial_ms = 100;
  config_.workers.restart_backoff_max_ms = 400;
  config_.workers.start_limit_burst = 4;
  PlaceModel();
  StartAgent();
  v1::SpawnWorkerRequest request = Request(v1::BACKEND_CPU, testing::UnusedPort());
  request.set_wait_ready(false);
  request.set_restart(v1::RESTART_POLICY_ON_FAILURE);
  const v1::Worker worker = WorkerOf(Spawn(request));
  EXPECT_EQ(worker.restart_policy(), v1::RESTART_POLICY_ON_FAILURE);

  const std::vector<v1::WorkerChange> changes = WorkerEventsUntilA(v1::WorkerChange::KIND_GAVE_UP);
  // Each start becomes ready through the ready callback again, crashes, and is restarted, until
  // the fourth start within the interval.
  EXPECT_THAT(Kinds(changes),
              ::testing::ElementsAre("KIND_STARTED", "KIND_READY", "KIND_EXITED", "KIND_RESTARTING",
                                     "KIND_STARTED", "KIND_READY", "KIND_EXITED", "KIND_RESTARTING",
                                     "KIND_STARTED", "KIND_READY", "KIND_EXITED", "KIND_RESTARTING",
                                     "KIND_STARTED", "KIND_READY", "KIND_EXITED", "KIND_GAVE_UP"));
  std::vector<int64_t> delays_ms;
  std::vector<uint32_t> attempts;
  std::set<int64_t> pids;
  for (const v1::WorkerChange& change : changes) {
    if (change.kind() == v1::WorkerChange::KIND_RESTARTING) {
      delays_ms.push_back(change.restart_delay().seconds() * 1000 +
                          change.restart_delay().nanos() / 1000000);
      attempts.push_back(change.attempt());
    }
    if (change.kind() == v1::WorkerChange::KIND_STARTED) pids.insert(change.worker().pid());
    EXPECT_EQ(change.worker().port(), worker.port());
  }
  EXPECT_THAT(delays_ms, ::testing::ElementsAre(100, 200, 400));
  EXPECT_THAT(attempts, ::testing::ElementsAre(1u, 2u, 3u));
  EXPECT_EQ(pids.size(), 4u);
  EXPECT_THAT(changes.back().reason(), HasSubstr("started 4 times within 5m"));
  EXPECT_THAT(changes.back().reason(), HasSubstr("spawn it again"));

  const std::vector<v1::Worker> all = List(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state(), v1::WORKER_STATE_FAILED);
  EXPECT_EQ(all[0].exit_code(), 3);
  EXPECT_EQ(all[0].restarts(), 3u);
  EXPECT_FALSE(all[0].restart_pending());
  EXPECT_THAT(all[0].state_reason(), HasSubstr("start_limit_burst"));
  // The log keeps every run's lines.
  const std::string log = testing::ReadFileBytes(worker.log_path());
  size_t runs = 0;
  for (size_t at = log.find("crashing after ready"); at != std::string::npos;
       at = log.find("crashing after ready", at + 1)) {
    ++runs;
  }
  EXPECT_EQ(runs, 4u);
}

TEST_F(WorkerServiceTest, DeleteModelIsRefusedWhileAWorkerServesTheModel) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  auto models = v1::ModelService::NewStub(agent_.server->InProcessChannel());
  v1::DeleteModelRequest request;
  request.set_id(kModel);
  {
    grpc::ClientContext context;
    v1::DeleteModelResponse response;
    const grpc::Status status = models->DeleteModel(&context, request, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
    EXPECT_THAT(status.error_message(),
                HasSubstr("in use by worker worker-cpu-0 (pid " + std::to_string(worker.pid())));
    const v1::ErrorHint hint = testing::ErrorHintOf(status);
    EXPECT_EQ(hint.reason(), "MODEL_IN_USE");
    EXPECT_THAT(hint.hint(), HasSubstr("llorch-pool worker stop worker-cpu-0"));
    EXPECT_TRUE(std::filesystem::exists(worker.model_path()));
  }
  ASSERT_EQ(kill(static_cast<pid_t>(worker.pid()), SIGINT), 0);
  WorkerEventsUntilA(v1::WorkerChange::KIND_EXITED);
  grpc::ClientContext context;
  v1::DeleteModelResponse response;
  const grpc::Status status = models->DeleteModel(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_FALSE(std::filesystem::exists(worker.model_path()));
}

TEST_F(WorkerServiceTest, StopEndsAWorkerGracefully) {
  PlaceModel();
  StartAgent();
  v1::SpawnWorkerRequest request = Request(v1::BACKEND_CPU, testing::UnusedPort());
  request.set_restart(v1::RESTART_POLICY_ON_FAILURE);
  const v1::Worker worker = WorkerOf(Spawn(request));
  const v1::StopWorkerResult result = Stop(StopIds({"worker-cpu-0"}));
  EXPECT_TRUE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 1);
  const v1::WorkerStopOutcome& row = result.targets(0);
  EXPECT_EQ(row.id(), "worker-cpu-0");
  EXPECT_EQ(row.pid(), worker.pid());
  EXPECT_EQ(row.ending(), v1::WorkerStopOutcome::ENDING_EXITED_ON_STOP_SIGNAL);
  EXPECT_EQ(row.stop_signal(), "SIGINT");
  EXPECT_TRUE(row.group());
  EXPECT_EQ(row.exit_code(), 0);
  EXPECT_THAT(row.summary(), HasSubstr("exited on SIGINT after"));
  EXPECT_THAT(row.summary(), HasSubstr("(exit code 0)"));
  EXPECT_EQ(row.gpu_memory().state(), v1::GpuMemoryRelease::STATE_UNSPECIFIED);  // not CUDA
  EXPECT_EQ(row.worker().state(), v1::WORKER_STATE_EXITED);
  EXPECT_THAT(testing::ReadFileBytes(worker.log_path()), HasSubstr("SIGINT: shutting down"));
  // The exit was a stop: published so, and restart on-failure planned nothing.
  const std::vector<v1::WorkerChange> changes = WorkerEventsUntilA(v1::WorkerChange::KIND_STOPPED);
  EXPECT_THAT(Kinds(changes), ::testing::ElementsAre("KIND_STARTED", "KIND_READY", "KIND_STOPPED"));
  const std::vector<v1::Worker> all = List(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state(), v1::WORKER_STATE_EXITED);
  EXPECT_EQ(all[0].exit_code(), 0);
  EXPECT_FALSE(all[0].restart_pending());
  EXPECT_EQ(all[0].restarts(), 0u);
  EXPECT_TRUE(List(false).empty());
}

TEST_F(WorkerServiceTest, AWorkerIgnoringSigintIsKilledWithItsWholeGroupAndNotRestarted) {
  setenv("FAKE_WORKER_IGNORE_SIGINT", "1", 1);
  setenv("FAKE_WORKER_FORK_CHILD", "1", 1);
  PlaceModel();
  StartAgent();
  // Killed by SIGKILL is an exit restart on-failure restarts, unless a stop asked for it.
  v1::SpawnWorkerRequest request = Request(v1::BACKEND_CPU, testing::UnusedPort());
  request.set_restart(v1::RESTART_POLICY_ON_FAILURE);
  const v1::Worker worker = WorkerOf(Spawn(request));
  const pid_t pid = static_cast<pid_t>(worker.pid());
  // The worker and the child it forked (which ignores SIGINT too).
  ASSERT_TRUE(testing::WaitFor([&] { return ListGroupMembers(pid).size() == 2; }));
  pid_t child = 0;
  for (const ProcStat& member : ListGroupMembers(pid)) {
    if (member.pid != pid) child = member.pid;
  }
  const v1::StopWorkerResult result = Stop(StopIds({"worker-cpu-0"}, /*timeout=*/1));
  EXPECT_TRUE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 1);
  const v1::WorkerStopOutcome& row = result.targets(0);
  EXPECT_EQ(row.ending(), v1::WorkerStopOutcome::ENDING_KILLED);
  EXPECT_EQ(row.exit_code(), 128 + SIGKILL);
  EXPECT_THAT(row.summary(), HasSubstr("did not exit within 1s of SIGINT; killed with SIGKILL"));
  EXPECT_THAT(row.killed_others(), ::testing::ElementsAre(child));
  EXPECT_TRUE(row.remaining().empty());
  EXPECT_TRUE(ListGroupMembers(pid).empty());
  // Gone, or a zombie waiting for whoever inherited it to reap it.
  const absl::StatusOr<ProcStat> child_now = ReadProcStat(child);
  EXPECT_TRUE(!child_now.ok() || child_now->state == 'Z');
  const std::vector<v1::WorkerChange> changes = WorkerEventsUntilA(v1::WorkerChange::KIND_STOPPED);
  EXPECT_THAT(Kinds(changes), ::testing::ElementsAre("KIND_STARTED", "KIND_READY", "KIND_STOPPED"));
  const std::vector<v1::Worker> all = List(true);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].state(), v1::WORKER_STATE_EXITED);
  EXPECT_EQ(all[0].exit_code(), 137);
  EXPECT_FALSE(all[0].restart_pending());
  EXPECT_EQ(all[0].restarts(), 0u);
}

TEST_F(WorkerServiceTest, AWorkerBeingStoppedIsListedStopping) {
  setenv("FAKE_WORKER_IGNORE_SIGINT", "1", 1);
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  v1::StopWorkerResult result;
  std::thread stop([&] { result = Stop(StopIds({"worker-cpu-0"}, /*timeout=*/600)); });
  std::vector<v1::Worker> listed;
  EXPECT_TRUE(testing::WaitFor([&] {
    listed = List(false);
    return listed.size() == 1 && listed[0].state() == v1::WORKER_STATE_STOPPING;
  }));
  // It ignores SIGINT; ending it here spares the test the stop's timeout.
  ASSERT_EQ(kill(static_cast<pid_t>(worker.pid()), SIGKILL), 0);
  stop.join();
  ASSERT_EQ(result.targets_size(), 1);
  EXPECT_EQ(result.targets(0).exit_code(), 128 + SIGKILL);
  EXPECT_EQ(List(true)[0].state(), v1::WORKER_STATE_EXITED);
}

TEST_F(WorkerServiceTest, StoppingAWorkerThatHadExitedSaysSoAndSucceeds) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  ASSERT_EQ(kill(static_cast<pid_t>(worker.pid()), SIGKILL), 0);
  WorkerEventsUntilA(v1::WorkerChange::KIND_EXITED);
  const v1::StopWorkerResult result = Stop(StopIds({"worker-cpu-0"}));
  EXPECT_TRUE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 1);
  EXPECT_EQ(result.targets(0).ending(), v1::WorkerStopOutcome::ENDING_ALREADY_EXITED);
  EXPECT_EQ(result.targets(0).exit_code(), 137);
  EXPECT_EQ(result.targets(0).summary(), "had already exited (exit code 137)");
}

TEST_F(WorkerServiceTest, StopRefusesUnknownIdsBeforeAnythingStarts) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  grpc::ClientContext context;
  auto stream = stub_->StopWorker(&context, StopIds({"worker-cpu-0", "worker-cpu-9"}));
  v1::OperationEvent event;
  EXPECT_FALSE(stream->Read(&event));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("worker-cpu-9"));
  EXPECT_EQ(testing::ErrorHintOf(status).reason(), "WORKER_NOT_FOUND");
  EXPECT_EQ(List(false).size(), 1u);  // worker-cpu-0 runs on
}

TEST_F(WorkerServiceTest, AStateFileNamingAReusedPidNeverGetsThatProcessSignalled) {
  StartAgent();  // its re-adoption ran: the record below is this agent's to judge at the stop
  testing::CommandOptions options;
  options.env = testing::CurrentEnvironment();
  testing::BackgroundProcess sleeper({"sleep", "1000"}, options, temp_.path() + "/sleep.log");
  absl::StatusOr<ProcessIdentity> identity;
  ASSERT_TRUE(testing::WaitFor([&] {
    identity = ReadProcessIdentity(sleeper.pid());
    return identity.ok() && identity->executable.find("sleep") != std::string::npos;
  }));
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(temp_.path() + "/state");
  ASSERT_TRUE(records.ok());
  WorkerRecord record;
  record.id = "worker-cpu-0";
  record.backend = "cpu";
  record.pid = sleeper.pid();
  record.start_time = identity->start_time + 1;  // the pid's earlier owner
  record.executable = identity->executable;
  record.created_at_ms = 1;
  record.ready_at_ms = 2;
  ASSERT_TRUE(records->Write(record).ok());

  const v1::StopWorkerResult result = Stop(StopIds({"worker-cpu-0"}, /*timeout=*/1));
  EXPECT_FALSE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 1);
  const v1::WorkerStopOutcome& row = result.targets(0);
  EXPECT_EQ(row.ending(), v1::WorkerStopOutcome::ENDING_UNSPECIFIED);
  EXPECT_EQ(testing::ErrorHintOf(row.error()).reason(), "PROCESS_REPLACED");
  EXPECT_THAT(row.summary(), HasSubstr("now names another process"));
  EXPECT_EQ(row.worker().state(), v1::WORKER_STATE_LOST);
  EXPECT_FALSE(sleeper.Exited());
  EXPECT_EQ(sleeper.Stop(SIGKILL), 128 + SIGKILL);
}

TEST_F(WorkerServiceTest, StopAllStopsEveryRunningWorker) {
  PlaceModel();
  StartAgent();
  v1::SpawnWorkerRequest first = Request(v1::BACKEND_CPU, testing::UnusedPort());
  first.set_worker_id("a");
  v1::SpawnWorkerRequest second = Request(v1::BACKEND_CPU, testing::UnusedPort());
  second.set_worker_id("b");
  WorkerOf(Spawn(first));
  WorkerOf(Spawn(second));
  v1::StopWorkerRequest request;
  request.set_all(true);
  const v1::StopWorkerResult result = Stop(request);
  EXPECT_TRUE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 2);
  EXPECT_EQ(result.targets(0).id(), "a");
  EXPECT_EQ(result.targets(1).id(), "b");
  for (const v1::WorkerStopOutcome& row : result.targets()) {
    EXPECT_EQ(row.ending(), v1::WorkerStopOutcome::ENDING_EXITED_ON_STOP_SIGNAL) << row.summary();
  }
  EXPECT_TRUE(List(false).empty());
  // Nothing left running: all again stops nothing and says so.
  EXPECT_EQ(Stop(request).targets_size(), 0);
}

TEST_F(WorkerServiceTest, TwoStopsOfOneWorkerAtOnceSendOneSignal) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CPU, testing::UnusedPort())));
  v1::StopWorkerResult first;
  std::thread other([&] { first = Stop(StopIds({"worker-cpu-0"})); });
  const v1::StopWorkerResult second = Stop(StopIds({"worker-cpu-0"}, /*timeout=*/20));
  other.join();
  EXPECT_TRUE(first.all_stopped());
  EXPECT_TRUE(second.all_stopped());
  const std::string log = testing::ReadFileBytes(worker.log_path());
  EXPECT_EQ(log.find("SIGINT: shutting down"), log.rfind("SIGINT: shutting down")) << log;
  EXPECT_NE(log.find("SIGINT: shutting down"), std::string::npos) << log;
}

TEST_F(WorkerServiceTest, AnUnmanagedWorkerProcessIsListedAndStoppedAloneByPid) {
  StartAgent();
  const int port = testing::UnusedPort();
  std::unique_ptr<testing::BackgroundProcess> by_hand = StartUnmanaged(port);
  std::vector<v1::Worker> listed;
  ASSERT_TRUE(testing::WaitFor([&] {
    listed = List(false);
    return listed.size() == 1;
  }));
  EXPECT_EQ(listed[0].state(), v1::WORKER_STATE_UNMANAGED);
  EXPECT_EQ(listed[0].pid(), by_hand->pid());
  EXPECT_EQ(listed[0].id(), "by-hand");
  EXPECT_EQ(listed[0].port(), static_cast<uint32_t>(port));
  EXPECT_EQ(listed[0].model_path(), "/models/x.gguf");
  EXPECT_EQ(listed[0].backend(), v1::BACKEND_CPU);
  EXPECT_TRUE(listed[0].has_uptime());
  // Up (its SIGINT handling in place), not merely started.
  ASSERT_TRUE(testing::WaitFor([&] {
    return testing::ReadFileBytes(temp_.path() + "/by-hand.log").find("loading model") !=
           std::string::npos;
  }));

  // It is this test's child, in this test's process group: the process alone is stopped.
  const v1::StopWorkerResult result = Stop(StopPids({by_hand->pid()}));
  EXPECT_TRUE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 1);
  const v1::WorkerStopOutcome& row = result.targets(0);
  EXPECT_EQ(row.ending(), v1::WorkerStopOutcome::ENDING_EXITED_ON_STOP_SIGNAL) << row.summary();
  EXPECT_FALSE(row.group());
  EXPECT_EQ(row.id(), "by-hand");
  EXPECT_EQ(row.exit_code(), -1);
  EXPECT_THAT(row.summary(), HasSubstr("not its process group's leader"));
  EXPECT_EQ(by_hand->Wait(), 0);  // its graceful SIGINT exit
  EXPECT_THAT(testing::ReadFileBytes(temp_.path() + "/by-hand.log"),
              HasSubstr("SIGINT: shutting down"));
  EXPECT_TRUE(List(false).empty());
}

TEST_F(WorkerServiceTest, APidThatIsNoWorkerIsRefusedAndLeftAlone) {
  StartAgent();
  testing::CommandOptions options;
  options.env = testing::CurrentEnvironment();
  testing::BackgroundProcess sleeper({"sleep", "1000"}, options, temp_.path() + "/sleep.log");
  const v1::StopWorkerResult result = Stop(StopPids({sleeper.pid()}));
  EXPECT_FALSE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 1);
  EXPECT_EQ(result.targets(0).ending(), v1::WorkerStopOutcome::ENDING_UNSPECIFIED);
  EXPECT_EQ(testing::ErrorHintOf(result.targets(0).error()).reason(), "NOT_A_WORKER_PROCESS");
  EXPECT_THAT(result.targets(0).summary(), HasSubstr("not a worker program"));
  EXPECT_FALSE(sleeper.Exited());
  EXPECT_EQ(sleeper.Stop(SIGKILL), 128 + SIGKILL);
}

TEST_F(WorkerServiceTest, StoppingACudaWorkerReportsItsGpuMemoryReleased) {
  PlaceModel();
  StartAgent();
  v1::SpawnWorkerRequest request = Request(v1::BACKEND_CUDA, testing::UnusedPort());
  const v1::Worker worker = WorkerOf(Spawn(request));
  // The stand-in driver lists it while it lives.
  std::ofstream(bin_ + "/compute-apps") << worker.pid() << ", 4096\n";
  const v1::StopWorkerResult result = Stop(StopIds({worker.id()}));
  ASSERT_EQ(result.targets_size(), 1);
  EXPECT_EQ(result.targets(0).gpu_memory().state(), v1::GpuMemoryRelease::STATE_RELEASED);
  EXPECT_THAT(result.targets(0).summary(), HasSubstr("GPU memory released"));
}

TEST_F(WorkerServiceTest, StoppingACudaWorkerSaysWhoStillHoldsGpuMemory) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CUDA, testing::UnusedPort())));
  // A driver that keeps the memory of the exited worker.
  std::ofstream(bin_ + "/stuck-apps") << worker.pid() << ", 4096\n";
  const v1::StopWorkerResult result = Stop(StopIds({worker.id()}));
  EXPECT_TRUE(result.all_stopped());  // the process is gone; the memory is another matter
  ASSERT_EQ(result.targets_size(), 1);
  const v1::GpuMemoryRelease& gpu = result.targets(0).gpu_memory();
  EXPECT_EQ(gpu.state(), v1::GpuMemoryRelease::STATE_NOT_RELEASED);
  ASSERT_EQ(gpu.held_size(), 1);
  EXPECT_EQ(gpu.held(0).pid(), worker.pid());
  EXPECT_EQ(gpu.held(0).used_mib(), 4096u);
  EXPECT_THAT(result.targets(0).summary(),
              HasSubstr(absl::StrCat("GPU memory not released within 10s: pid ", worker.pid(),
                                     " still holds 4096 MiB")));
}

TEST_F(WorkerServiceTest, AGpuMemoryCheckThatCannotBeDoneSaysUnknown) {
  PlaceModel();
  StartAgent();
  const v1::Worker worker = WorkerOf(Spawn(Request(v1::BACKEND_CUDA, testing::UnusedPort())));
  std::ofstream(bin_ + "/driver-broken") << "";
  const v1::StopWorkerResult result = Stop(StopIds({worker.id()}));
  EXPECT_TRUE(result.all_stopped());
  ASSERT_EQ(result.targets_size(), 1);
  const v1::GpuMemoryRelease& gpu = result.targets(0).gpu_memory();
  EXPECT_EQ(gpu.state(), v1::GpuMemoryRelease::STATE_UNKNOWN);
  EXPECT_THAT(gpu.detail(), HasSubstr("GPU memory unknown: "));
  EXPECT_THAT(gpu.detail(), HasSubstr("Driver/library version mismatch"));
}

}  // namespace
}  // namespace llorch
