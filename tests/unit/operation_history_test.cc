// Operations that outlive the agent, and retries that start nothing twice: the registry with an
// OperationHistory on disk (restored records, operations cut off by a dead agent, the bounds on
// disk, the lock, files that are not records) and request_ids (RequestKeyOf, Start with a key).
#include "agent/ops/operation_history.h"

#include <gmock/gmock.h>
#include <google/protobuf/util/message_differencer.h>
#include <google/protobuf/wrappers.pb.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/ops/cancel_cause.h"
#include "agent/ops/operation_registry.h"
#include "agent/ops/request_key.h"
#include "common/status.h"
#include "llorch/pool/v1/model.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/run_command.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
namespace fs = std::filesystem;
using ::google::protobuf::util::MessageDifferencer;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::UnorderedElementsAre;

google::protobuf::StringValue Text(const std::string& value) {
  google::protobuf::StringValue text;
  text.set_value(value);
  return text;
}

// Blocks until `op` has finished (at most 30 s); returns its final event.
v1::OperationEvent AwaitFinal(const Operation& op) {
  for (int i = 0; i < 30000 && !op.finished(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(op.finished());
  return op.EventsAfter(0).back();
}

// Work that runs until it is cancelled.
void RunUntilCancelled(Operation& op) {
  op.SetRunning();
  while (!op.cancel_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

RequestKey Key(const std::string& id, const std::string& fingerprint = "request") {
  return RequestKey{id, fingerprint};
}

class OperationHistoryTest : public ::testing::Test {
 protected:
  fs::path dir() const { return fs::path(temp_.path()) / "state" / "operations"; }

  // A registry keeping its history in dir().
  std::unique_ptr<OperationRegistry> Registry(OperationRegistry::Options options = {}) {
    auto registry = std::make_unique<OperationRegistry>(std::move(options));
    absl::StatusOr<std::unique_ptr<OperationHistory>> history = OperationHistory::Open(dir());
    EXPECT_TRUE(history.ok()) << history.status();
    if (history.ok()) registry->KeepHistory(*std::move(history));
    return registry;
  }

  std::vector<std::string> Files() const {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir())) {
      names.push_back(entry.path().filename().string());
    }
    return names;
  }

  testing::TempDir temp_;
};

TEST_F(OperationHistoryTest, AFinishedOperationComesBackWithItsFinalEventAndRequestId) {
  std::string id;
  v1::Operation before;
  v1::OperationEvent final_before;
  {
    auto registry = Registry();
    absl::StatusOr<std::shared_ptr<Operation>> op =
        registry->Start("git.pull", "", "", Key("pull-1"), [](Operation& op) {
          op.Log(v1::LogLine::STREAM_STDOUT, "fetched");
          op.Succeed(Text("pulled"));
        });
    ASSERT_TRUE(op.ok()) << op.status();
    final_before = AwaitFinal(**op);
    id = (*op)->id();
    before = (*op)->Snapshot();
    // On disk before anyone could see it finished.
    agent::ops::OperationRecord record;
    ASSERT_TRUE(record.ParseFromString(testing::ReadFileBytes((dir() / (id + ".pb")).string())));
    EXPECT_TRUE(MessageDifferencer::Equals(record.final_event(), final_before));
  }
  EXPECT_THAT(Files(), ElementsAre(id + ".pb"));

  auto registry = Registry();
  absl::StatusOr<std::shared_ptr<Operation>> found = registry->Find(id);
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_TRUE(MessageDifferencer::Equals((*found)->Snapshot(), before));
  // Only the final event is kept, with its sequence: a watcher sees the gap.
  std::vector<v1::OperationEvent> events = (*found)->EventsAfter(0);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(MessageDifferencer::Equals(events[0], final_before));
  EXPECT_EQ(events[0].sequence(), 3u);
  ASSERT_EQ(registry->List().size(), 1u);

  // The same request_id gets that operation, and nothing runs; another request with it is refused.
  std::atomic<int> runs{0};
  absl::StatusOr<std::shared_ptr<Operation>> retried = registry->Start(
      "git.pull", "", "", Key("pull-1"), [&](Operation& op) { ++runs, op.Succeed(Text("")); });
  ASSERT_TRUE(retried.ok()) << retried.status();
  EXPECT_EQ(*retried, *found);
  absl::StatusOr<std::shared_ptr<Operation>> reused = registry->Start(
      "git.pull", "", "", Key("pull-1", "another request"), [&](Operation& op) { ++runs; });
  EXPECT_EQ(reused.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(GetReason(reused.status()), "REQUEST_ID_REUSED");
  EXPECT_THAT(reused.status().message(), HasSubstr(id));
  EXPECT_EQ(GetMetadata(reused.status())["operation_id"], id);
  EXPECT_EQ(runs.load(), 0);
  EXPECT_EQ(registry->List().size(), 1u);

  // New operations get new ids.
  std::shared_ptr<Operation> next =
      registry->Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("")); });
  AwaitFinal(*next);
  EXPECT_NE(next->id(), id);
}

TEST_F(OperationHistoryTest, AnOperationADeadAgentRanComesBackFailedWithAgentRestarted) {
  const fs::path at_the_crash = fs::path(temp_.path()) / "crashed";
  std::string id;
  uint64_t last_sequence = 0;
  {
    auto registry = Registry();
    absl::StatusOr<std::shared_ptr<Operation>> op = registry->Start(
        "model.download", "qwen", "model.download:qwen", Key("download-1"), [](Operation& op) {
          op.ReportProgress(v1::Progress());
          RunUntilCancelled(op);
        });
    ASSERT_TRUE(op.ok());
    id = (*op)->id();
    // A second request joins it, and its request_id is kept too.
    ASSERT_EQ(*registry->Start("model.download", "qwen", "model.download:qwen", Key("download-2"),
                               [](Operation&) {}),
              *op);
    while ((*op)->state() != v1::OPERATION_STATE_RUNNING) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    // What the disk holds when the agent is killed: the operation's record as it ran.
    fs::copy(dir(), at_the_crash);
  }
  agent::ops::OperationRecord record;
  ASSERT_TRUE(
      record.ParseFromString(testing::ReadFileBytes((at_the_crash / (id + ".pb")).string())));
  EXPECT_FALSE(record.has_final_event());
  last_sequence = record.last_sequence();
  fs::remove_all(dir());
  fs::rename(at_the_crash, dir());

  v1::Operation restored;
  {
    auto registry = Registry();
    absl::StatusOr<std::shared_ptr<Operation>> found = registry->Find(id);
    ASSERT_TRUE(found.ok()) << found.status();
    restored = (*found)->Snapshot();
    EXPECT_EQ(restored.state(), v1::OPERATION_STATE_FAILED);
    EXPECT_EQ(restored.error().code(), static_cast<int>(absl::StatusCode::kAborted));
    EXPECT_THAT(restored.error().message(),
                HasSubstr("the agent stopped before this operation finished"));
    EXPECT_EQ(testing::ErrorHintOf(restored.error()).reason(), "AGENT_RESTARTED");
    EXPECT_TRUE(restored.has_finished_at());
    const std::vector<v1::OperationEvent> events = (*found)->EventsAfter(0);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_TRUE(events[0].final());
    EXPECT_EQ(events[0].sequence(), last_sequence + 1);
    EXPECT_TRUE(MessageDifferencer::Equals(events[0].error(), restored.error()));
    // Both request_ids lead to it; a retry needs a new one.
    for (const char* request_id : {"download-1", "download-2"}) {
      absl::StatusOr<std::shared_ptr<Operation>> retried = registry->Start(
          "model.download", "qwen", "model.download:qwen", Key(request_id), [](Operation&) {});
      ASSERT_TRUE(retried.ok());
      EXPECT_EQ((*retried)->id(), id);
    }
  }
  // The verdict was written back: the next start finds the same.
  auto registry = Registry();
  absl::StatusOr<std::shared_ptr<Operation>> again = registry->Find(id);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(MessageDifferencer::Equals((*again)->Snapshot(), restored));
}

TEST_F(OperationHistoryTest, AnOperationStoppedWithTheAgentComesBackCancelled) {
  std::string id;
  {
    auto registry = Registry();
    std::shared_ptr<Operation> op = registry->Start("model.verify", "qwen", "", RunUntilCancelled);
    id = op->id();
    while (op->state() != v1::OPERATION_STATE_RUNNING) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    registry->CancelAll(AgentShuttingDown("SIGTERM"), absl::Seconds(30));
  }
  auto registry = Registry();
  absl::StatusOr<std::shared_ptr<Operation>> found = registry->Find(id);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ((*found)->state(), v1::OPERATION_STATE_CANCELLED);
  EXPECT_THAT((*found)->Snapshot().error().message(), HasSubstr("the agent is shutting down"));
  EXPECT_EQ(testing::ErrorHintOf((*found)->Snapshot().error()).reason(), "AGENT_SHUTDOWN");
}

TEST_F(OperationHistoryTest, TheBoundsHoldOnDiskAndOnlyTheNewestKeepEveryEvent) {
  std::atomic<int64_t> now{absl::ToUnixSeconds(absl::Now())};
  OperationRegistry::Options options;
  options.max_finished = 2;
  options.max_full_histories = 1;
  options.clock = [&] { return absl::FromUnixSeconds(now.load()); };
  auto registry = Registry(options);
  std::vector<std::shared_ptr<Operation>> ops;
  for (int i = 0; i < 3; ++i) {
    ops.push_back(registry->Start("git.pull", "", "", [](Operation& op) {
      op.Log(v1::LogLine::STREAM_STDOUT, "line");
      op.Succeed(Text(""));
    }));
    AwaitFinal(*ops.back());
  }
  std::vector<std::string> listed;
  for (const v1::Operation& op : registry->List()) listed.push_back(op.id());
  EXPECT_THAT(listed, ElementsAre(ops[2]->id(), ops[1]->id()));
  EXPECT_THAT(Files(), UnorderedElementsAre(ops[2]->id() + ".pb", ops[1]->id() + ".pb"));
  EXPECT_EQ(ops[2]->EventsAfter(0).size(), 3u);  // pending, line, final
  ASSERT_EQ(ops[1]->EventsAfter(0).size(), 1u);
  EXPECT_EQ(ops[1]->EventsAfter(0)[0].sequence(), 3u);

  now += 8 * 24 * 3600;  // a week and a day later nothing finished is kept
  EXPECT_TRUE(registry->List().empty());
  EXPECT_TRUE(Files().empty());
}

TEST_F(OperationHistoryTest, OneAgentAtATime) {
  absl::StatusOr<std::unique_ptr<OperationHistory>> first = OperationHistory::Open(dir());
  ASSERT_TRUE(first.ok()) << first.status();
  absl::StatusOr<std::unique_ptr<OperationHistory>> second = OperationHistory::Open(dir());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(second.status().message(), HasSubstr("another pool-agent keeps its operations in"));
  EXPECT_THAT(GetHint(second.status()).value_or(""), HasSubstr("state directory of its own"));
  first->reset();
  EXPECT_TRUE(OperationHistory::Open(dir()).ok());
}

TEST_F(OperationHistoryTest, WhatIsNotARecordIsRemovedAndNoSymlinkIsFollowed) {
  std::string id;
  {
    auto registry = Registry();
    std::shared_ptr<Operation> op =
        registry->Start("git.pull", "", "", [](Operation& op) { op.Succeed(Text("")); });
    AwaitFinal(*op);
    id = op->id();
  }
  // A record elsewhere, linked in under another operation's name.
  const fs::path outside = fs::path(temp_.path()) / "outside.pb";
  fs::copy_file(dir() / (id + ".pb"), outside);
  fs::create_symlink(outside, dir() / "op-0000beef.pb");
  testing::WriteFileBytes((dir() / "op-0000cafe.pb").string(), "not a record");
  testing::WriteFileBytes((dir() / (id + ".pb.tmp-abcdefgh")).string(), "cut off");
  testing::WriteFileBytes((dir() / "README").string(), "not ours");

  auto registry = Registry();
  ASSERT_EQ(registry->List().size(), 1u);
  EXPECT_TRUE(registry->Find(id).ok());
  EXPECT_THAT(Files(), UnorderedElementsAre(id + ".pb", "README"));
  EXPECT_TRUE(fs::exists(outside));
}

TEST(RequestKeyTest, AnIdIsUpTo64SafeCharactersAndTheFingerprintIsTheRestOfTheRequest) {
  v1::DownloadModelRequest request;
  request.add_ids("qwen");
  absl::StatusOr<RequestKey> none = RequestKeyOf(request);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->id, "");

  request.set_request_id("0b5f3b7e-9c1d-4e8a-a3f2-6d1c2b9e8f70");
  absl::StatusOr<RequestKey> uuid = RequestKeyOf(request);
  ASSERT_TRUE(uuid.ok()) << uuid.status();
  EXPECT_EQ(uuid->id, "0b5f3b7e-9c1d-4e8a-a3f2-6d1c2b9e8f70");
  v1::DownloadModelRequest same = request;
  same.set_request_id("orchestrator_7.retry-2");
  absl::StatusOr<RequestKey> other_id = RequestKeyOf(same);
  ASSERT_TRUE(other_id.ok()) << other_id.status();
  EXPECT_EQ(other_id->fingerprint, uuid->fingerprint);
  same.set_force(true);
  EXPECT_NE(RequestKeyOf(same)->fingerprint, uuid->fingerprint);
  v1::VerifyModelRequest verify;
  verify.add_ids("qwen");
  verify.set_request_id(request.request_id());
  EXPECT_NE(RequestKeyOf(verify)->fingerprint, uuid->fingerprint);

  for (const std::string& bad : {std::string(65, 'a'), std::string("a b"), std::string("a/b"),
                                 std::string("\xc3\xa9t\xc3\xa9")}) {
    request.set_request_id(bad);
    absl::StatusOr<RequestKey> refused = RequestKeyOf(request);
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(GetReason(refused.status()), "INVALID_REQUEST") << bad;
    EXPECT_EQ(GetMetadata(refused.status())["field"], "request_id") << bad;
    EXPECT_THAT(refused.status().message(), HasSubstr("request_id")) << bad;
  }
  request.set_request_id(std::string(64, 'a'));
  EXPECT_TRUE(RequestKeyOf(request).ok());
}

TEST(RequestIdTest, TheSameIdGetsTheSameOperationRunningOrFinishedAndJoinsAreRemembered) {
  OperationRegistry registry;
  std::atomic<bool> release{false};
  std::atomic<int> runs{0};
  auto work = [&](Operation& op) {
    ++runs;
    op.SetRunning();
    while (!release && !op.cancel_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    op.Succeed(Text(""));
  };
  absl::StatusOr<std::shared_ptr<Operation>> first =
      registry.Start("model.download", "qwen", "qwen", Key("a"), work);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*registry.Start("model.download", "qwen", "qwen", Key("a"), work), *first);
  // Another request for the same work joins, and its id then names the same operation.
  EXPECT_EQ(*registry.Start("model.download", "qwen", "qwen", Key("b"), work), *first);
  release = true;
  AwaitFinal(**first);
  EXPECT_EQ(*registry.Start("model.download", "qwen", "qwen", Key("a"), work), *first);
  EXPECT_EQ(*registry.Start("model.download", "qwen", "qwen", Key("b"), work), *first);
  EXPECT_EQ(runs.load(), 1);
  // Without an id, or with a new one, the same request starts new work.
  absl::StatusOr<std::shared_ptr<Operation>> fresh =
      registry.Start("model.download", "qwen", "qwen", Key("c"), work);
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE(*fresh, *first);
  AwaitFinal(**fresh);
  EXPECT_EQ(runs.load(), 2);
}

}  // namespace
}  // namespace llorch
