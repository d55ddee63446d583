// WorkerService at the gRPC level, against the fake llorch-candled (tests/support/fake_worker.cc)
// under the real workers' names: spawn to ready (callback of either body shape, or /health), the
// failure paths with exit code and log tail, and every check before a worker starts.
#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "agent/workers/worker_record.h"
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

  // The spawn's final event.
  v1::OperationEvent Spawn(v1::SpawnWorkerRequest request) {
    grpc::ClientContext context;
    auto stream = stub_->SpawnWorker(&context, request);
    v1::OperationEvent event;
    v1::OperationEvent last;
    while (stream->Read(&event)) last = event;
    grpc::Status status = stream->Finish();
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_TRUE(last.final());
    return last;
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

}  // namespace
}  // namespace llorch
