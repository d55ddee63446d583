// The agent's log lines for its events (agent/server/event_log.h) and their text form.
#include "agent/server/event_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error_metadata.h"
#include "llorch/pool/v1/common.pb.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;

std::string Line(const v1::AgentEvent& event, LogLevel* level = nullptr) {
  LogLevel found;
  std::string name;
  LogFields fields;
  if (!DescribeAgentEvent(event, &found, &name, &fields)) return "";
  if (level != nullptr) *level = found;
  return FormatLogfmt(name, fields);
}

TEST(EventLogTest, LogfmtQuotesValuesThatWouldSplitTheLine) {
  EXPECT_EQ(FormatLogfmt("x", {{"a", "plain"},
                               {"b", "two words"},
                               {"c", "say \"hi\""},
                               {"d", ""},
                               {"e", "k=v"},
                               {"f", "line\nbreak"}}),
            "x a=plain b=\"two words\" c=\"say \\\"hi\\\"\" d=\"\" e=\"k=v\" f=\"line\\nbreak\"");
}

TEST(EventLogTest, AnOperationIsLoggedWhenItStartsAndEndsNotWhileItRuns) {
  v1::AgentEvent event;
  v1::Operation* operation = event.mutable_operation();
  operation->set_id("op-1a2b3c4d");
  operation->set_kind("model.download");
  operation->set_target("tinyllama");
  operation->set_state(v1::OPERATION_STATE_PENDING);
  EXPECT_EQ(Line(event), "operation.start id=op-1a2b3c4d kind=model.download target=tinyllama");
  // Who started it, when the client said so, and from where.
  operation->set_started_by("`llorch-pool models download` (pid 42 on h, uid 7)");
  operation->set_started_by_peer("unix:");
  EXPECT_EQ(Line(event),
            "operation.start id=op-1a2b3c4d kind=model.download target=tinyllama "
            "started_by=\"`llorch-pool models download` (pid 42 on h, uid 7)\" peer=unix:");
  operation->set_state(v1::OPERATION_STATE_RUNNING);
  EXPECT_EQ(Line(event), "");
  operation->set_state(v1::OPERATION_STATE_SUCCEEDED);
  operation->mutable_created_at()->set_seconds(100);
  operation->mutable_finished_at()->set_seconds(112);
  operation->mutable_finished_at()->set_nanos(500000000);
  operation->mutable_progress()->set_unit(v1::PROGRESS_UNIT_BYTES);
  operation->mutable_progress()->set_done(668788096);
  LogLevel level = LogLevel::kError;
  EXPECT_EQ(Line(event, &level),
            "operation.end id=op-1a2b3c4d kind=model.download target=tinyllama state=succeeded "
            "duration_s=12.500 bytes=668788096");
  EXPECT_EQ(level, LogLevel::kInfo);
  operation->set_state(v1::OPERATION_STATE_FAILED);
  operation->mutable_error()->set_message("disk full");
  EXPECT_THAT(Line(event, &level), ::testing::EndsWith("state=failed duration_s=12.500 "
                                                       "bytes=668788096 error=\"disk full\""));
  EXPECT_EQ(level, LogLevel::kWarn);
}

TEST(EventLogTest, ACancelSaysWhoAskedAndFromWhere) {
  v1::AgentEvent event;
  v1::Operation* operation = event.mutable_operation();
  operation->set_id("op-1a2b3c4d");
  operation->set_kind("model.verify");
  operation->set_state(v1::OPERATION_STATE_CANCELLED);
  v1::ErrorHint hint;
  hint.set_reason("CANCELLED_BY_CLIENT");
  (*hint.mutable_metadata())[metadata::kRequestedBy] = "`llorch-pool ops cancel` (pid 42 on h)";
  (*hint.mutable_metadata())[metadata::kPeer] = "unix:";
  operation->mutable_error()->set_message("cancelled");
  operation->mutable_error()->add_details()->PackFrom(hint);
  EXPECT_EQ(Line(event),
            "operation.cancel id=op-1a2b3c4d kind=model.verify state=cancelled "
            "reason=CANCELLED_BY_CLIENT requested_by=\"`llorch-pool ops cancel` (pid 42 on h)\" "
            "peer=unix: error=cancelled");
}

TEST(EventLogTest, AWorkerThatExitedUnaskedIsAWarningWithItsExitCode) {
  v1::AgentEvent event;
  v1::WorkerChange* change = event.mutable_worker();
  change->set_kind(v1::WorkerChange::KIND_EXITED);
  change->mutable_worker()->set_id("worker-cuda-0");
  change->mutable_worker()->set_pid(4242);
  change->mutable_worker()->set_port(8001);
  change->mutable_worker()->set_exit_code(139);
  LogLevel level = LogLevel::kInfo;
  EXPECT_EQ(Line(event, &level), "worker.exited id=worker-cuda-0 pid=4242 port=8001 exit_code=139");
  EXPECT_EQ(level, LogLevel::kWarn);
  change->set_kind(v1::WorkerChange::KIND_READY);
  EXPECT_EQ(Line(event, &level), "worker.ready id=worker-cuda-0 pid=4242 port=8001");
  EXPECT_EQ(level, LogLevel::kInfo);
}

}  // namespace
}  // namespace llorch
