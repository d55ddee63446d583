// AllStrings(), the read-only look the agent's UTF-8 interceptor takes at every response before
// it copies one to repair: it must reach every string RewriteStrings() repairs (nested, repeated,
// map values, an Any's payload), and say so exactly when a repair would change something.
#include "common/message_strings.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/strings.h"
#include "llorch/pool/v1/common.pb.h"
#include "llorch/pool/v1/worker.pb.h"

namespace llorch {
namespace {

namespace v1 = pool::v1;
using ::testing::ElementsAre;
using ::testing::UnorderedElementsAre;

const std::string kReplacement = "\xEF\xBF\xBD";  // U+FFFD

bool Valid(const google::protobuf::FieldDescriptor&, absl::string_view text) {
  return IsValidUtf8(text);
}

bool Repair(const google::protobuf::FieldDescriptor&, std::string* text) {
  if (IsValidUtf8(*text)) return false;
  *text = ToValidUtf8(*text);
  return true;
}

v1::ListWorkersResponse Workers() {
  v1::ListWorkersResponse response;
  for (const char* id : {"worker-cpu-0", "worker-cuda-1"}) {
    v1::Worker* worker = response.add_workers();
    worker->set_id(id);
    worker->set_model_path("/models/tinyllama/model.gguf");
    worker->add_argv("llorch-cpu-candled");
    worker->add_argv("--port");
  }
  return response;
}

// An error as the agent sends it: the hint, with metadata, packed in an Any.
v1::RpcStatus Error(const std::string& hint_text, const std::string& metadata_value) {
  v1::ErrorHint hint;
  hint.set_hint(hint_text);
  hint.set_reason("MODEL_NOT_FOUND");
  (*hint.mutable_metadata())["model"] = metadata_value;
  v1::RpcStatus status;
  status.set_code(5);
  status.set_message("unknown model");
  status.add_details()->PackFrom(hint);
  return status;
}

// Every string AllStrings() looked at, in order, while `accept` held.
std::vector<std::string> Seen(const google::protobuf::Message& message) {
  std::vector<std::string> seen;
  AllStrings(message, [&seen](const google::protobuf::FieldDescriptor&, absl::string_view text) {
    seen.emplace_back(text);
    return IsValidUtf8(text);
  });
  return seen;
}

TEST(AllStringsTest, AcceptsAValidMessageAfterLookingAtEveryString) {
  EXPECT_TRUE(AllStrings(Workers(), Valid));
  EXPECT_THAT(
      Seen(Workers()),
      ElementsAre("worker-cpu-0", "/models/tinyllama/model.gguf", "llorch-cpu-candled", "--port",
                  "worker-cuda-1", "/models/tinyllama/model.gguf", "llorch-cpu-candled", "--port"));
  // Inside an Any too: its type URL, then its payload's strings, map keys and values included.
  EXPECT_TRUE(AllStrings(Error("see the catalog", "qwn"), Valid));
  EXPECT_THAT(Seen(Error("see the catalog", "qwn")),
              UnorderedElementsAre("unknown model", "type.googleapis.com/llorch.pool.v1.ErrorHint",
                                   "see the catalog", "MODEL_NOT_FOUND", "model", "qwn"));
}

TEST(AllStringsTest, RefusesWhereverARepairWouldChangeSomethingAndStopsThere) {
  v1::ListWorkersResponse nested = Workers();
  nested.mutable_workers(0)->set_model_path("/models/q\xffwen.gguf");
  v1::ListWorkersResponse repeated = Workers();
  repeated.mutable_workers(1)->set_argv(1, "--po\xfe");
  v1::RpcStatus in_any = Error("hint \xfe", "qwn");
  v1::RpcStatus in_map = Error("see the catalog", "q\xffwn");

  const std::vector<google::protobuf::Message*> invalid = {&nested, &repeated, &in_any, &in_map};
  for (google::protobuf::Message* message : invalid) {
    EXPECT_FALSE(AllStrings(*message, Valid)) << message->ShortDebugString();
    EXPECT_TRUE(RewriteStrings(message, Repair));
    EXPECT_TRUE(AllStrings(*message, Valid)) << "after the repair";
  }
  EXPECT_EQ(nested.workers(0).model_path(), "/models/q" + kReplacement + "wen.gguf");
  EXPECT_EQ(repeated.workers(1).argv(1), "--po" + kReplacement);
  v1::ErrorHint hint;
  ASSERT_TRUE(in_map.details(0).UnpackTo(&hint));
  EXPECT_EQ(hint.metadata().at("model"), "q" + kReplacement + "wn");

  // The first refused string ends the look: nothing after it is read.
  v1::ListWorkersResponse first = Workers();
  first.mutable_workers(0)->set_id("worker-\xff");
  EXPECT_THAT(Seen(first), ElementsAre("worker-\xff"));
}

}  // namespace
}  // namespace llorch
