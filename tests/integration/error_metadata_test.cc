// ErrorHint.metadata as an orchestrator reads it over gRPC: the facts of an error as key/value
// strings, per reason as docs/api.md lists them, in a failed call's status details and in a
// failed operation's error alike.
#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "llorch/pool/v1/git.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "tests/support/error_details.h"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/git_fixture.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

class ErrorMetadataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.AddFile("owner/Tiny-GGUF", "tiny.gguf", testing::GgufFileOfSize(4 << 20, 5));
    testing::WriteFileBytes(temp_.path() + "/catalog.toml", R"([[models]]
id = "tiny"
name = "Tiny"
repo = "owner/Tiny-GGUF"
file = "tiny.gguf"
dir = "tiny"
size_bytes = 4194304

[[models]]
id = "tiny2"
name = "Tiny 2"
repo = "owner/Tiny-GGUF"
file = "tiny2.gguf"
dir = "tiny2"
size_bytes = 4194304

[[models]]
id = "gone"
name = "Gone"
repo = "owner/Gone-GGUF"
file = "gone.gguf"
dir = "gone"
size_bytes = 1024
)");
    setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
    Config config;
    config.catalog = temp_.path() + "/catalog.toml";
    StartAgent(config);
  }

  void StartAgent(const Config& config) {
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/true, {}, config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    models_ = v1::ModelService::NewStub(agent_.server->InProcessChannel());
    git_stub_ = v1::GitService::NewStub(agent_.server->InProcessChannel());
    operations_ = v1::OperationService::NewStub(agent_.server->InProcessChannel());
  }

  // The final event of the operation `stream` follows.
  static v1::OperationEvent Last(grpc::ClientReader<v1::OperationEvent>& stream) {
    v1::OperationEvent event, last;
    while (stream.Read(&event)) last = event;
    EXPECT_TRUE(stream.Finish().ok());
    EXPECT_TRUE(last.final());
    return last;
  }

  v1::ErrorHint DeleteHint(const std::string& id) {
    v1::DeleteModelRequest request;
    request.set_id(id);
    v1::DeleteModelResponse response;
    grpc::ClientContext context;
    return testing::ErrorHintOf(models_->DeleteModel(&context, request, &response));
  }

  testing::TempDir temp_;
  testing::TestAgent agent_;
  // Declared after the agent, so destroyed before it: ends a stalled response at once.
  testing::FakeHub hub_;
  std::unique_ptr<v1::ModelService::Stub> models_;
  std::unique_ptr<v1::GitService::Stub> git_stub_;
  std::unique_ptr<v1::OperationService::Stub> operations_;
};

TEST_F(ErrorMetadataTest, AnUnknownModelIdComesWithTheClosestIds) {
  v1::GetModelInfoRequest request;
  request.set_id("tinyy");
  v1::ModelInfo info;
  grpc::ClientContext context;
  const v1::ErrorHint hint = testing::ErrorHintOf(models_->GetModelInfo(&context, request, &info));
  EXPECT_EQ(hint.reason(), "MODEL_NOT_FOUND");
  EXPECT_THAT(hint.metadata(),
              UnorderedElementsAre(Pair("model", "tinyy"), Pair("suggestions", "tiny,tiny2")));
}

TEST_F(ErrorMetadataTest, AMalformedFieldIsNamed) {
  v1::DownloadModelRequest request;
  request.add_ids("tiny");
  request.add_ids("../tiny");
  grpc::ClientContext context;
  auto stream = models_->DownloadModel(&context, request);
  v1::OperationEvent event;
  EXPECT_FALSE(stream->Read(&event));
  const v1::ErrorHint hint = testing::ErrorHintOf(stream->Finish());
  EXPECT_EQ(hint.reason(), "INVALID_REQUEST");
  EXPECT_THAT(hint.metadata(), UnorderedElementsAre(Pair("field", "ids[1]")));
}

TEST_F(ErrorMetadataTest, AnUnknownOperationIsNamed) {
  v1::GetOperationRequest request;
  request.set_id("op-0000beef");
  v1::Operation operation;
  grpc::ClientContext context;
  const v1::ErrorHint hint =
      testing::ErrorHintOf(operations_->GetOperation(&context, request, &operation));
  EXPECT_EQ(hint.reason(), "OPERATION_NOT_FOUND");
  EXPECT_THAT(hint.metadata(), UnorderedElementsAre(Pair("operation_id", "op-0000beef")));
}

TEST_F(ErrorMetadataTest, ASymlinkInTheWayIsNamedWithItsTarget) {
  const fs::path outside = fs::path(temp_.path()) / "outside";
  const fs::path link = fs::path(temp_.path()) / "models" / "tiny";
  fs::create_directories(outside);
  fs::create_directories(link.parent_path());
  fs::create_directory_symlink(outside, link);
  const v1::ErrorHint hint = DeleteHint("tiny");
  EXPECT_EQ(hint.reason(), "SYMLINK_REFUSED");
  EXPECT_THAT(hint.metadata(), UnorderedElementsAre(Pair("path", link.string()),
                                                    Pair("symlink_target", outside.string())));
}

// A delete while a download holds the model names the model and the agent's operation holding
// it (never the agent's own pid as a holder): an orchestrator can watch or cancel that one.
TEST_F(ErrorMetadataTest, ABusyModelNamesItsHolderAndTheOperation) {
  hub_.SetFaults({.stall_after_bytes = 1 << 20, .stall_count = 100});
  v1::DownloadModelRequest request;
  request.add_ids("tiny");
  grpc::ClientContext download_context;
  auto stream = models_->DownloadModel(&download_context, request);
  v1::OperationEvent event;
  ASSERT_TRUE(stream->Read(&event));
  const std::string id = event.operation_id();
  // The lock is taken before the Hub is asked; the transfer then stalls.
  ASSERT_TRUE(testing::WaitFor([&] {
    for (const testing::FakeHubRequest& seen : hub_.requests()) {
      if (seen.server == "cdn" && seen.method == "GET") return true;
    }
    return false;
  }));

  const v1::ErrorHint hint = DeleteHint("tiny");
  EXPECT_EQ(hint.reason(), "MODEL_BUSY");
  EXPECT_THAT(hint.metadata(),
              UnorderedElementsAre(Pair("model", "tiny"), Pair("operation_id", id)));
  EXPECT_THAT(hint.hint(), HasSubstr("llorch-pool ops cancel " + id));
  download_context.TryCancel();
}

// An operation's error carries its metadata like a call's: in the final event and in
// GetOperation afterwards.
TEST_F(ErrorMetadataTest, AFailedOperationsErrorCarriesItsFacts) {
  v1::DownloadModelRequest request;
  request.add_ids("gone");
  grpc::ClientContext context;
  auto stream = models_->DownloadModel(&context, request);
  const v1::OperationEvent last = Last(*stream);
  ASSERT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  const v1::ErrorHint hint = testing::ErrorHintOf(last.error());
  EXPECT_EQ(hint.reason(), "HUB_NOT_FOUND");
  EXPECT_THAT(hint.metadata(),
              UnorderedElementsAre(Pair("model", "gone"), Pair("repo", "owner/Gone-GGUF"),
                                   Pair("file", "gone.gguf"), Pair("revision", "main")));

  v1::GetOperationRequest get;
  get.set_id(last.operation_id());
  v1::Operation operation;
  grpc::ClientContext get_context;
  ASSERT_TRUE(operations_->GetOperation(&get_context, get, &operation).ok());
  EXPECT_EQ(testing::ErrorHintOf(operation.error()).metadata().at("repo"), "owner/Gone-GGUF");
}

// The same agent, serving a checkout with submodules (tests/support/git_fixture.h).
class GitErrorMetadataTest : public ErrorMetadataTest {
 protected:
  void SetUp() override {
    git_.ExportEnv();
    Config config;
    config.repo_root = git_.Clone("checkout");
    StartAgent(config);
  }

  testing::GitFixture git_;
};

TEST_F(GitErrorMetadataTest, AnUnknownSubmoduleComesWithTheClosestNames) {
  v1::GetSubmoduleStatusRequest request;
  request.set_name("reference/alpah");
  v1::Submodule submodule;
  grpc::ClientContext context;
  const v1::ErrorHint hint =
      testing::ErrorHintOf(git_stub_->GetSubmoduleStatus(&context, request, &submodule));
  EXPECT_EQ(hint.reason(), "SUBMODULE_NOT_FOUND");
  // Closest first: the other names are as close as the rule for plausible typos allows.
  EXPECT_THAT(hint.metadata(),
              UnorderedElementsAre(Pair("submodule", "reference/alpah"),
                                   Pair("suggestions", StartsWith("reference/alpha,"))));
}

TEST_F(GitErrorMetadataTest, ABadBranchNameIsNamedWithItsField) {
  v1::SwitchSubmoduleBranchRequest request;
  request.set_name("reference/alpha");
  request.set_branch("a..b");
  v1::Submodule submodule;
  grpc::ClientContext context;
  const v1::ErrorHint hint =
      testing::ErrorHintOf(git_stub_->SwitchSubmoduleBranch(&context, request, &submodule));
  EXPECT_EQ(hint.reason(), "BAD_BRANCH_NAME");
  EXPECT_THAT(hint.metadata(),
              UnorderedElementsAre(Pair("branch", "a..b"), Pair("field", "branch")));
}

TEST_F(GitErrorMetadataTest, AMissingBranchIsNamed) {
  v1::SyncRequest request;
  request.set_branch("no-such-branch");
  request.set_preview_only(true);
  grpc::ClientContext context;
  auto stream = git_stub_->Sync(&context, request);
  const v1::OperationEvent last = Last(*stream);
  ASSERT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  const v1::ErrorHint hint = testing::ErrorHintOf(last.error());
  EXPECT_EQ(hint.reason(), "BRANCH_NOT_FOUND");
  EXPECT_THAT(hint.metadata(), UnorderedElementsAre(Pair("branch", "no-such-branch")));
}

}  // namespace
}  // namespace llorch
