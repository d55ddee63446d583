// ModelService over gRPC against the fake Hub: two requests for the same models join one
// operation, a client that goes away does not stop the download, models installed, found
// unverified and removed are agent events, a download waiting for a model another operation
// holds is PENDING and names that operation, requests that cannot start are refused before any
// operation exists, progress moves with the bytes, symlinks under the models directory are
// never followed, and a caller's Hub token (metadata x-llorch-hub-token) is used for its
// operation only and kept nowhere.
#include "agent/models/model_service.h"

#include <gmock/gmock.h>
#include <grpcpp/client_context.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "llorch/pool/v1/agent.grpc.pb.h"
#include "llorch/pool/v1/common.pb.h"
#include "llorch/pool/v1/dev.grpc.pb.h"
#include "llorch/pool/v1/model.grpc.pb.h"
#include "llorch/pool/v1/operation.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/support/error_details.h"
#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"
#include "tests/support/run_command.h"
#include "tests/support/test_agent.h"
#include "tests/support/tree_snapshot.h"

namespace llorch {
namespace {

namespace fs = std::filesystem;
namespace v1 = pool::v1;
using ::testing::HasSubstr;

constexpr uint64_t kSize = 4 << 20;
constexpr char kFile[] = "tiny.gguf";

class ModelServiceDownloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.AddFile("owner/Tiny-GGUF", "tiny.gguf", testing::GgufFileOfSize(kSize, 5));
    hub_.SetFaults({.bytes_per_second_per_connection = 4 << 20});  // about a second
    testing::WriteFileBytes(temp_.path() + "/catalog.toml", R"([[models]]
id = "tiny"
name = "Tiny"
repo = "owner/Tiny-GGUF"
file = "tiny.gguf"
dir = "tiny"
size_bytes = 4194304
)");
    // The agent reads the Hub's address from its environment, as the real one does.
    setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
    Config config;
    config.catalog = temp_.path() + "/catalog.toml";
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/true, {}, config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    stub_ = v1::ModelService::NewStub(agent_.server->InProcessChannel());
  }

  std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> Download(grpc::ClientContext* context,
                                                                   std::vector<std::string> ids) {
    v1::DownloadModelRequest request;
    for (const std::string& id : ids) request.add_ids(id);
    return stub_->DownloadModel(context, request);
  }

  // Starts a download of tiny that the Hub stalls mid-file (for 30 s, longer than any test
  // waits), so that it holds the model's lock; returns its operation id once bytes flow.
  std::string StartStalledDownload(
      grpc::ClientContext* context,
      std::unique_ptr<grpc::ClientReader<v1::OperationEvent>>* stream) {
    hub_.SetFaults({.stall_after_bytes = 1 << 20, .stall_count = 1});
    *stream = Download(context, {"tiny"});
    v1::OperationEvent event;
    EXPECT_TRUE((*stream)->Read(&event));
    EXPECT_TRUE(testing::WaitFor([&] { return hub_.bytes_sent() > 0; }));
    return event.operation_id();
  }

  // Reads an operation's stream to its end; returns its id once it succeeded.
  static std::string Finish(std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> stream) {
    v1::OperationEvent event;
    v1::OperationEvent last;
    while (stream->Read(&event)) last = event;
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED) << last.DebugString();
    return last.operation_id();
  }

  testing::TempDir temp_;
  testing::FakeHub hub_;
  testing::TestAgent agent_;
  std::unique_ptr<v1::ModelService::Stub> stub_;
};

TEST_F(ModelServiceDownloadTest, TwoRequestsForTheSameModelJoinOneOperation) {
  grpc::ClientContext first_context, second_context;
  auto first = Download(&first_context, {"tiny"});
  v1::OperationEvent first_event;
  ASSERT_TRUE(first->Read(&first_event));
  auto second = Download(&second_context, {"tiny", "tiny"});  // the same models, once each
  v1::OperationEvent event;
  ASSERT_TRUE(second->Read(&event));
  EXPECT_EQ(event.operation_id(), first_event.operation_id());
  EXPECT_EQ(event.sequence(), 1u);  // the joiner gets the history from the start
  v1::OperationEvent last;
  while (second->Read(&event)) last = event;
  ASSERT_TRUE(second->Finish().ok());
  ASSERT_TRUE(last.final());
  ASSERT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED) << last.error().message();
  v1::DownloadModelResult result;
  ASSERT_TRUE(last.result().UnpackTo(&result));
  ASSERT_EQ(result.models_size(), 1);
  EXPECT_EQ(result.models(0).bytes_fetched(), kSize);
  EXPECT_EQ(hub_.bytes_sent(), kSize);  // one download for both
  while (first->Read(&event)) {
  }
  EXPECT_TRUE(first->Finish().ok());
}

TEST_F(ModelServiceDownloadTest, AClientThatGoesAwayDoesNotStopTheDownload) {
  std::string id;
  {
    grpc::ClientContext context;
    auto stream = Download(&context, {"tiny"});
    v1::OperationEvent event;
    ASSERT_TRUE(stream->Read(&event));
    id = event.operation_id();
    context.TryCancel();
  }
  auto operations = v1::OperationService::NewStub(agent_.server->InProcessChannel());
  v1::GetOperationRequest get;
  get.set_id(id);
  v1::Operation operation;
  ASSERT_TRUE(testing::WaitFor([&] {
    grpc::ClientContext context;
    return operations->GetOperation(&context, get, &operation).ok() &&
           operation.state() == v1::OPERATION_STATE_SUCCEEDED;
  })) << operation.DebugString();
  EXPECT_TRUE(std::filesystem::exists(temp_.path() + "/models/tiny/tiny.gguf"));
}

TEST_F(ModelServiceDownloadTest, RequestsThatCannotStartAreRefusedBeforeAnyOperation) {
  grpc::ClientContext unknown_context;
  v1::OperationEvent event;
  auto unknown = Download(&unknown_context, {"tiny", "tinny"});
  EXPECT_FALSE(unknown->Read(&event));
  grpc::Status status = unknown->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(status.error_message(), HasSubstr("unknown model 'tinny' (did you mean 'tiny'?)"));

  grpc::ClientContext empty_context;
  auto empty = Download(&empty_context, {});
  EXPECT_FALSE(empty->Read(&event));
  EXPECT_EQ(empty->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(agent_.context->operations->List().empty());
  EXPECT_TRUE(hub_.requests().empty());
}

// What a download, a verification and a delete do to a model reaches the agent's event stream
// (AgentService.WatchEvents) with the operation that did it.
TEST_F(ModelServiceDownloadTest, InstalledUnverifiedAndRemovedModelsAreAgentEvents) {
  grpc::ClientContext download_context;
  const std::string download_id = Finish(Download(&download_context, {"tiny"}));
  // Other bytes of the same size: the verification withdraws the manifest.
  const std::string path = temp_.path() + "/models/tiny/tiny.gguf";
  testing::WriteFileBytes(path, testing::GgufFileOfSize(kSize, 9));
  v1::VerifyModelRequest verify;
  verify.add_ids("tiny");
  grpc::ClientContext verify_context;
  const std::string verify_id = Finish(stub_->VerifyModel(&verify_context, verify));
  v1::DeleteModelRequest remove;
  remove.set_id("tiny");
  v1::DeleteModelResponse removed;
  grpc::ClientContext delete_context;
  ASSERT_TRUE(stub_->DeleteModel(&delete_context, remove, &removed).ok());

  auto agent = v1::AgentService::NewStub(agent_.server->InProcessChannel());
  grpc::ClientContext events_context;
  auto events = agent->WatchEvents(&events_context, v1::WatchEventsRequest());
  std::vector<v1::ModelChange> changes;
  v1::AgentEvent event;
  while (changes.size() < 3 && events->Read(&event)) {
    if (event.has_model()) changes.push_back(event.model());
  }
  events_context.TryCancel();
  events->Finish();
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind(), v1::ModelChange::KIND_INSTALLED);
  EXPECT_EQ(changes[0].model_id(), "tiny");
  EXPECT_EQ(changes[0].operation_id(), download_id);
  EXPECT_EQ(changes[0].state(), v1::DOWNLOAD_STATE_DOWNLOADED);
  EXPECT_EQ(changes[0].manifest().size_bytes(), kSize);
  EXPECT_EQ(changes[0].manifest().sha256().size(), 64u);
  EXPECT_EQ(changes[1].kind(), v1::ModelChange::KIND_UNVERIFIED);
  EXPECT_EQ(changes[1].operation_id(), verify_id);
  EXPECT_EQ(changes[1].state(), v1::DOWNLOAD_STATE_UNVERIFIED);
  EXPECT_EQ(changes[2].kind(), v1::ModelChange::KIND_REMOVED);
  EXPECT_EQ(changes[2].operation_id(), "");
  EXPECT_EQ(changes[2].state(), v1::DOWNLOAD_STATE_NOT_DOWNLOADED);
}

TEST_F(ModelServiceDownloadTest, LockWritesBesideTheCatalogAndVerifyUsesThePinWithoutTheHub) {
  hub_.SetFaults({});
  v1::LockModelsRequest lock;
  lock.add_ids("tiny");
  v1::LockModelsResponse locked;
  grpc::ClientContext lock_context;
  ASSERT_TRUE(stub_->LockModels(&lock_context, lock, &locked).ok());
  const std::string lock_path = temp_.path() + "/catalog.lock.toml";
  EXPECT_EQ(locked.lock_file(), lock_path);
  ASSERT_EQ(locked.models_size(), 1);
  EXPECT_EQ(locked.models(0).action(), v1::LockedModel::ACTION_PINNED);
  EXPECT_THAT(testing::ReadFileBytes(lock_path),
              HasSubstr("commit = \"" + hub_.commit("owner/Tiny-GGUF") + "\""));
  // The catalog shows the pin.
  v1::ListCatalogResponse catalog;
  grpc::ClientContext list_context;
  ASSERT_TRUE(stub_->ListCatalog(&list_context, v1::ListCatalogRequest(), &catalog).ok());
  EXPECT_EQ(catalog.entries(0).model().pin().commit(), hub_.commit("owner/Tiny-GGUF"));
  EXPECT_EQ(catalog.entries(0).model().pin().lock_file(), lock_path);
  EXPECT_EQ(catalog.entries(0).model().pin().stale(), "");
  // The Hub's bytes copied here by hand, no manifest: verify adopts them against the pin alone.
  testing::WriteFileBytes(temp_.path() + "/models/tiny/tiny.gguf",
                          testing::GgufFileOfSize(kSize, 5));
  hub_.ResetStats();
  v1::VerifyModelRequest verify;
  verify.add_ids("tiny");
  grpc::ClientContext verify_context;
  auto stream = stub_->VerifyModel(&verify_context, verify);
  v1::OperationEvent event;
  v1::OperationEvent last;
  while (stream->Read(&event)) last = event;
  ASSERT_TRUE(stream->Finish().ok());
  v1::VerifyModelResult result;
  ASSERT_TRUE(last.result().UnpackTo(&result));
  ASSERT_EQ(result.models_size(), 1);
  EXPECT_TRUE(result.ok()) << result.models(0).files(0).problem();
  EXPECT_TRUE(result.models(0).files(0).pinned());
  EXPECT_TRUE(result.models(0).files(0).adopted());
  EXPECT_TRUE(hub_.requests().empty());
}

TEST_F(ModelServiceDownloadTest, ADownloadWaitingForAnotherOperationIsPendingAndNamesIt) {
  grpc::ClientContext first_context;
  std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> first;
  const std::string first_id = StartStalledDownload(&first_context, &first);

  // Not the same request (force), so not the same operation: it waits for the model's lock.
  grpc::ClientContext second_context;
  v1::DownloadModelRequest forced;
  forced.add_ids("tiny");
  forced.set_force(true);
  auto second = stub_->DownloadModel(&second_context, forced);
  v1::OperationEvent event;
  std::vector<v1::OperationEvent> second_events;
  while (second->Read(&event)) {
    second_events.push_back(event);
    if (event.has_waiting_for()) break;
  }
  ASSERT_TRUE(event.has_waiting_for());
  const std::string second_id = event.operation_id();
  EXPECT_NE(second_id, first_id);
  EXPECT_EQ(event.state(), v1::OPERATION_STATE_PENDING);
  EXPECT_EQ(event.waiting_for().operation_id(), first_id);
  EXPECT_EQ(event.waiting_for().pid(), 0);  // this agent's own work: named by operation
  EXPECT_EQ(event.waiting_for().resource(), "model tiny");
  EXPECT_THAT(event.waiting_for().description(), HasSubstr(first_id));
  for (const v1::OperationEvent& earlier : second_events) {
    EXPECT_EQ(earlier.state(), v1::OPERATION_STATE_PENDING);
  }
  auto operations = v1::OperationService::NewStub(agent_.server->InProcessChannel());
  {
    v1::GetOperationRequest get;
    get.set_id(second_id);
    v1::Operation operation;
    grpc::ClientContext context;
    ASSERT_TRUE(operations->GetOperation(&context, get, &operation).ok());

    EXPECT_EQ(operation.state(), v1::OPERATION_STATE_PENDING);
    EXPECT_EQ(operation.waiting_for().operation_id(), first_id);
  }

  // The first one goes: the second gets the lock, runs, and downloads the model.
  {
    v1::CancelOperationRequest cancel;
    cancel.set_id(first_id);
    v1::Operation operation;
    grpc::ClientContext context;
    ASSERT_TRUE(operations->CancelOperation(&context, cancel, &operation).ok());
  }
  v1::OperationEvent last;
  bool ran = false;
  while (second->Read(&event)) {
    if (event.state() == v1::OPERATION_STATE_RUNNING && !ran) {
      ran = true;
      EXPECT_FALSE(event.has_waiting_for());
    }
    last = event;
  }
  EXPECT_TRUE(second->Finish().ok());
  EXPECT_TRUE(ran);
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_SUCCEEDED) << last.error().message();
  while (first->Read(&event)) last = event;
  EXPECT_TRUE(first->Finish().ok());
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_CANCELLED);
}

// A download's progress as an orchestrator watching it sees it: `done` moves with the bytes
// received (not in whole write chunks), never repeats itself (a stalled server brings no
// events), and an interrupted download's CatalogEntry.local_bytes is what it fetched (what its
// state file claims), not the size of the preallocated data file.
class ModelServiceProgressTest : public ModelServiceDownloadTest {
 protected:
  static constexpr uint64_t kBigSize = 12 << 20;
  // What the downloader gathers before a write: progress used to move only in steps this big.
  static constexpr uint64_t kWriteChunk = 4 << 20;

  void SetUp() override {
    ModelServiceDownloadTest::SetUp();
    hub_.AddFile("owner/Tiny-GGUF", kFile, testing::GgufFileOfSize(kBigSize, 7));
    operations_ = v1::OperationService::NewStub(agent_.server->InProcessChannel());
  }

  // Every event of operation `id` from the first, through WatchOperation, to the final one.
  std::vector<v1::OperationEvent> Watch(const std::string& id) {
    grpc::ClientContext context;
    v1::WatchOperationRequest request;
    request.set_id(id);
    auto stream = operations_->WatchOperation(&context, request);
    std::vector<v1::OperationEvent> events;
    v1::OperationEvent event;
    while (stream->Read(&event)) events.push_back(event);
    EXPECT_TRUE(stream->Finish().ok());
    return events;
  }

  // The bytes per part that tiny's state file says are on disk, summed.
  uint64_t BytesTheStateFileClaims() const {
    const nlohmann::json state = nlohmann::json::parse(
        testing::ReadFileBytes(temp_.path() + "/models/tiny/.llorch/tiny.gguf.partial.json"));
    uint64_t sum = 0;
    for (const nlohmann::json& done : state.at("done")) sum += done.get<uint64_t>();
    return sum;
  }

  std::unique_ptr<v1::OperationService::Stub> operations_;
};

std::vector<uint64_t> DownloadDone(const std::vector<v1::OperationEvent>& events) {
  std::vector<uint64_t> done;
  for (const v1::OperationEvent& event : events) {
    if (event.has_progress() && event.progress().phase() == "download") {
      done.push_back(event.progress().done());
    }
  }
  return done;
}

TEST_F(ModelServiceProgressTest, DoneMovesWithTheBytesAndAStallBringsNoEvents) {
  // About 1.5 s of bytes, with a second of silence after the first 2 MiB.
  hub_.SetFaults({.stall_after_bytes = 2 << 20,
                  .stall_count = 1,
                  .stall_duration = absl::Seconds(1),
                  .bytes_per_second_per_connection = 8 << 20});
  grpc::ClientContext context;
  auto download = Download(&context, {"tiny"});
  v1::OperationEvent event;
  ASSERT_TRUE(download->Read(&event));
  const std::vector<v1::OperationEvent> events = Watch(event.operation_id());
  ASSERT_FALSE(events.empty());
  ASSERT_EQ(events.back().state(), v1::OPERATION_STATE_SUCCEEDED)
      << events.back().error().message();

  const std::vector<uint64_t> done = DownloadDone(events);
  ASSERT_FALSE(done.empty());
  EXPECT_EQ(done.back(), kBigSize);
  // Every progress event says something new: done grows strictly, so none came while the
  // server was silent (it would repeat the one before it).
  for (size_t i = 1; i < done.size(); ++i) {
    EXPECT_GT(done[i], done[i - 1]) << "progress event " << i << " of " << done.size();
  }
  // The bytes are counted as they arrive, not when a write chunk is full.
  int within_a_chunk = 0;
  for (uint64_t bytes : done) {
    if (bytes % kWriteChunk != 0) ++within_a_chunk;
  }
  EXPECT_GE(within_a_chunk, 3) << "of " << done.size() << " progress events";
  while (download->Read(&event)) {
  }
  EXPECT_TRUE(download->Finish().ok());
}

TEST_F(ModelServiceProgressTest, AnInterruptedDownloadsLocalBytesAreWhatItFetched) {
  hub_.SetFaults({.bytes_per_second_per_connection = 8 << 20});
  grpc::ClientContext context;
  auto download = Download(&context, {"tiny"});
  v1::OperationEvent event;
  ASSERT_TRUE(download->Read(&event));
  const std::string id = event.operation_id();
  while (download->Read(&event)) {
    if (event.has_progress() && event.progress().phase() == "download" &&
        event.progress().done() >= kBigSize / 2) {
      break;
    }
  }
  ASSERT_FALSE(event.final()) << "the download ended before it could be cancelled";
  {
    grpc::ClientContext cancel_context;
    v1::CancelOperationRequest cancel;
    cancel.set_id(id);
    v1::Operation operation;
    ASSERT_TRUE(operations_->CancelOperation(&cancel_context, cancel, &operation).ok());
  }
  while (download->Read(&event)) {
  }
  ASSERT_TRUE(download->Finish().ok());
  ASSERT_EQ(event.state(), v1::OPERATION_STATE_CANCELLED);

  const uint64_t fetched = BytesTheStateFileClaims();
  EXPECT_GT(fetched, 0u);
  EXPECT_LT(fetched, kBigSize);
  grpc::ClientContext list_context;
  v1::ListCatalogRequest list;
  list.add_ids("tiny");
  v1::ListCatalogResponse catalog;
  ASSERT_TRUE(stub_->ListCatalog(&list_context, list, &catalog).ok());
  ASSERT_EQ(catalog.entries_size(), 1);
  EXPECT_EQ(catalog.entries(0).state(), v1::DOWNLOAD_STATE_PARTIAL);
  EXPECT_EQ(catalog.entries(0).local_bytes(), fetched);

  grpc::ClientContext info_context;
  v1::GetModelInfoRequest info_request;
  info_request.set_id("tiny");
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&info_context, info_request, &info).ok());
  EXPECT_EQ(info.entry().local_bytes(), fetched);
}

// Symlinks planted under the models directory, met over gRPC as an orchestrator would: a
// download refuses them before it creates, writes or removes anything (outside or inside), and
// ListModels, GetModelInfo and DeleteModel show and treat them as what they are.
class ModelServiceSymlinkTest : public ModelServiceDownloadTest {
 protected:
  void SetUp() override {
    ModelServiceDownloadTest::SetUp();
    fs::create_directories(Outside());
  }

  fs::path Models() const { return fs::path(temp_.path()) / "models"; }
  fs::path Outside() const { return fs::path(temp_.path()) / "outside"; }

  // The final event of a DownloadModel of tiny.
  v1::OperationEvent DownloadTiny() {
    grpc::ClientContext context;
    auto stream = Download(&context, {"tiny"});
    v1::OperationEvent event, last;
    while (stream->Read(&event)) last = event;
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_TRUE(last.final());
    return last;
  }
};

// The issue's case: <dir>/.llorch links to a directory holding <file>.partial and .partial.json
// of other bytes. A download that followed the link deleted them and wrote its lock, partial and
// manifest there.
TEST_F(ModelServiceSymlinkTest, ADownloadRefusesASymlinkedMetadataDirAndTouchesNothingOutside) {
  testing::WriteFileBytes((Outside() / "tiny.gguf.partial").string(), "someone else's bytes");
  testing::WriteFileBytes((Outside() / "tiny.gguf.partial.json").string(), R"({"version": 1})");
  fs::create_directories(Models() / "tiny");
  fs::create_directory_symlink(Outside(), Models() / "tiny" / ".llorch");
  const auto outside = testing::SnapshotTree(Outside().string());
  const auto inside = testing::SnapshotTree(Models().string());

  v1::OperationEvent last = DownloadTiny();
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(last.error().code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(last.error().message(), HasSubstr((Models() / "tiny" / ".llorch").string() +
                                                " is a symlink (to " + Outside().string() + ")"));
  EXPECT_EQ(testing::ErrorHintOf(last.error()).reason(), "SYMLINK_REFUSED");
  EXPECT_EQ(testing::SnapshotTree(Outside().string()), outside);
  EXPECT_EQ(testing::SnapshotTree(Models().string()), inside);
  EXPECT_TRUE(hub_.requests().empty());  // refused before the Hub was asked
}

// <dir> itself links elsewhere: refused, and no .llorch/ (nor anything else) appears there.
TEST_F(ModelServiceSymlinkTest, ADownloadRefusesASymlinkedModelDirAndCreatesNothingInItsTarget) {
  fs::create_directories(Models());
  fs::create_directory_symlink(Outside(), Models() / "tiny");

  v1::OperationEvent last = DownloadTiny();
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_THAT(last.error().message(), HasSubstr((Models() / "tiny").string() +
                                                " is a symlink (to " + Outside().string() + ")"));
  EXPECT_EQ(testing::ErrorHintOf(last.error()).reason(), "SYMLINK_REFUSED");
  EXPECT_TRUE(fs::is_empty(Outside()));
  EXPECT_TRUE(hub_.requests().empty());
}

// A symlinked model file: listed as the link, refused by a download (nothing replaced, nothing
// fetched), and deleted as the link; its target stays.
TEST_F(ModelServiceSymlinkTest, ASymlinkedModelFileIsListedAsItselfAndDeletedAsTheLink) {
  testing::WriteFileBytes((Outside() / "real.gguf").string(), "GGUF and more");
  fs::create_directories(Models() / "tiny");
  fs::create_symlink(Outside() / "real.gguf", Models() / "tiny" / kFile);

  grpc::ClientContext list_context;
  v1::ListModelsResponse list;
  ASSERT_TRUE(stub_->ListModels(&list_context, {}, &list).ok());
  ASSERT_EQ(list.models_size(), 1);
  EXPECT_EQ(list.models(0).state(), v1::DOWNLOAD_STATE_REFUSED);
  EXPECT_THAT(list.models(0).refused(),
              HasSubstr("is a symlink (to " + (Outside() / "real.gguf").string() + ")"));
  ASSERT_EQ(list.models(0).files_size(), 1);
  EXPECT_EQ(list.models(0).files(0).symlink_target(), (Outside() / "real.gguf").string());

  grpc::ClientContext info_context;
  v1::GetModelInfoRequest info_request;
  info_request.set_id("tiny");
  v1::ModelInfo info;
  ASSERT_TRUE(stub_->GetModelInfo(&info_context, info_request, &info).ok());
  EXPECT_EQ(info.entry().state(), v1::DOWNLOAD_STATE_REFUSED);
  EXPECT_FALSE(info.has_gguf());  // the header behind the link is not read

  v1::OperationEvent last = DownloadTiny();
  EXPECT_EQ(last.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(testing::ErrorHintOf(last.error()).reason(), "SYMLINK_REFUSED");
  EXPECT_TRUE(fs::is_symlink(Models() / "tiny" / kFile));
  EXPECT_TRUE(hub_.requests().empty());

  grpc::ClientContext delete_context;
  v1::DeleteModelRequest remove;
  remove.set_id("tiny");
  v1::DeleteModelResponse removed;
  ASSERT_TRUE(stub_->DeleteModel(&delete_context, remove, &removed).ok());
  ASSERT_EQ(removed.removed_size(), 1);
  EXPECT_EQ(removed.removed(0).symlink_target(), (Outside() / "real.gguf").string());
  EXPECT_FALSE(fs::exists(fs::symlink_status(Models() / "tiny" / kFile)));
  EXPECT_EQ(testing::ReadFileBytes((Outside() / "real.gguf").string()), "GGUF and more");
}

TEST_F(ModelServiceSymlinkTest, DeleteRefusesASymlinkedMetadataDir) {
  testing::WriteFileBytes((Outside() / "tiny.gguf.manifest.json").string(), "{}");
  testing::WriteFileBytes((Models() / "tiny" / kFile).string(), "GGUF");
  fs::create_directory_symlink(Outside(), Models() / "tiny" / ".llorch");
  const auto outside = testing::SnapshotTree(Outside().string());
  const auto inside = testing::SnapshotTree(Models().string());
  grpc::ClientContext context;
  v1::DeleteModelRequest remove;
  remove.set_id("tiny");
  v1::DeleteModelResponse removed;
  grpc::Status status = stub_->DeleteModel(&context, remove, &removed);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr(".llorch is a symlink"));
  EXPECT_EQ(testing::SnapshotTree(Outside().string()), outside);
  EXPECT_EQ(testing::SnapshotTree(Models().string()), inside);
}

// `dev setup` installs its model through the download's code, and publishes it as a download
// does: `agent events` hears it, with the setup's operation.
TEST_F(ModelServiceDownloadTest, ASetupsDownloadIsPublishedAsInstalledWithItsOperation) {
  v1::RunSetupRequest setup;
  for (const char* step : {"submodules", "hf", "config", "doctor"}) setup.add_skip_steps(step);
  setup.set_model_id("tiny");
  grpc::ClientContext setup_context;
  const std::string setup_id = Finish(
      v1::DevService::NewStub(agent_.server->InProcessChannel())->RunSetup(&setup_context, setup));
  EXPECT_EQ(testing::ReadFileBytes(temp_.path() + "/models/tiny/tiny.gguf").size(), kSize);

  auto agent = v1::AgentService::NewStub(agent_.server->InProcessChannel());
  grpc::ClientContext events_context;
  auto events = agent->WatchEvents(&events_context, v1::WatchEventsRequest());
  v1::AgentEvent event;
  v1::ModelChange change;
  while (!change.has_manifest() && events->Read(&event)) {
    if (event.has_model()) change = event.model();
  }
  events_context.TryCancel();
  events->Finish();
  EXPECT_EQ(change.kind(), v1::ModelChange::KIND_INSTALLED);
  EXPECT_EQ(change.model_id(), "tiny");
  EXPECT_EQ(change.operation_id(), setup_id);
  EXPECT_EQ(change.manifest().size_bytes(), kSize);
}

}  // namespace
}  // namespace llorch

namespace llorch {
namespace {

using ::testing::Not;

constexpr char kGatedRepo[] = "owner/Gated-GGUF";
constexpr char kHubToken[] = "hf_caller0123456789abcdefGHIJ";

// Credentials follow the caller: a gated repository the agent has no token for is downloaded
// with the token the request carries (metadata x-llorch-hub-token), which is used for that
// operation only and lands nowhere: not in the operation history under the state directory
// (with the request's fingerprint, a request_id being given), not in GetOperation, events or
// errors.
class ModelServiceHubTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    hub_.AddFile(kGatedRepo, kFile, testing::GgufFileOfSize(kSize, 6));
    hub_.RequireToken(kGatedRepo, kHubToken);
    testing::WriteFileBytes(temp_.path() + "/catalog.toml", absl::StrCat(R"([[models]]
id = "gated"
name = "Gated"
repo = ")",
                                                                         kGatedRepo, R"("
file = "tiny.gguf"
dir = "gated"
size_bytes = 4194304
)"));
    setenv("HF_ENDPOINT", hub_.endpoint().c_str(), 1);
    // The agent has no token of its own: none in its environment, no `hf auth login` file.
    unsetenv("HF_TOKEN");
    setenv("HF_TOKEN_PATH", (temp_.path() + "/no-token").c_str(), 1);
    Config config;
    config.catalog = temp_.path() + "/catalog.toml";
    // A pool-agent (not in-process): it keeps its operations under its state directory.
    absl::StatusOr<testing::TestAgent> agent =
        testing::StartTestAgent(temp_.path(), /*in_process=*/false, {}, config);
    ASSERT_TRUE(agent.ok()) << agent.status();
    agent_ = std::move(*agent);
    stub_ = v1::ModelService::NewStub(agent_.server->InProcessChannel());
  }
  void TearDown() override { unsetenv("HF_TOKEN_PATH"); }

  // Starts a download of gated with `token` in the metadata ("": none).
  std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> Download(
      grpc::ClientContext* context, const std::string& token, const std::string& request_id = "") {
    if (!token.empty()) context->AddMetadata("x-llorch-hub-token", token);
    v1::DownloadModelRequest request;
    request.add_ids("gated");
    request.set_request_id(request_id);
    return stub_->DownloadModel(context, request);
  }

  // Reads a stream to its end: every event, the last one final.
  static std::vector<v1::OperationEvent> ReadAll(
      std::unique_ptr<grpc::ClientReader<v1::OperationEvent>> stream) {
    std::vector<v1::OperationEvent> events;
    v1::OperationEvent event;
    while (stream->Read(&event)) events.push_back(event);
    EXPECT_TRUE(stream->Finish().ok());
    EXPECT_FALSE(events.empty());
    return events;
  }

  testing::TempDir temp_;
  testing::FakeHub hub_;
  testing::TestAgent agent_;
  std::unique_ptr<v1::ModelService::Stub> stub_;
};

TEST_F(ModelServiceHubTokenTest, TheCallersTokenDownloadsAGatedModelAndIsKeptNowhere) {
  grpc::ClientContext anonymous_context;
  const v1::OperationEvent refused = ReadAll(Download(&anonymous_context, "")).back();
  EXPECT_EQ(refused.state(), v1::OPERATION_STATE_FAILED);
  EXPECT_EQ(refused.error().code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_THAT(testing::ErrorHintOf(refused.error()).hint(), HasSubstr("no token was sent"));

  grpc::ClientContext context;
  const std::vector<v1::OperationEvent> events =
      ReadAll(Download(&context, kHubToken, "retry-safe-1"));
  ASSERT_EQ(events.back().state(), v1::OPERATION_STATE_SUCCEEDED)
      << events.back().error().message();
  EXPECT_TRUE(std::filesystem::exists(temp_.path() + "/models/gated/tiny.gguf"));
  // The Hub got the token, the CDN never.
  bool hub_saw_it = false;
  for (const testing::FakeHubRequest& request : hub_.requests()) {
    if (request.server == "hub" && request.authorization == absl::StrCat("Bearer ", kHubToken)) {
      hub_saw_it = true;
    }
    if (request.server == "cdn") {
      EXPECT_EQ(request.authorization, "") << request.path;
    }
  }
  EXPECT_TRUE(hub_saw_it);

  // Nowhere the agent keeps or shows anything: its state directory (the operation history with
  // the request's fingerprint), its models directory, the events, GetOperation, ListOperations.
  for (const std::string& dir : {temp_.path() + "/state", temp_.path() + "/models"}) {
    for (const auto& [path, content] : testing::SnapshotTree(dir)) {
      EXPECT_THAT(content, Not(HasSubstr(kHubToken))) << path;
    }
  }
  EXPECT_FALSE(testing::SnapshotTree(temp_.path() + "/state/operations").empty());
  for (const v1::OperationEvent& event : events) {
    EXPECT_THAT(event.DebugString(), Not(HasSubstr(kHubToken)));
  }
  auto operations = v1::OperationService::NewStub(agent_.server->InProcessChannel());
  v1::ListOperationsResponse listed;
  grpc::ClientContext list_context;
  ASSERT_TRUE(operations->ListOperations(&list_context, v1::ListOperationsRequest(), &listed).ok());
  EXPECT_GE(listed.operations_size(), 2);
  EXPECT_THAT(listed.DebugString(), Not(HasSubstr(kHubToken)));
}

// A request joins a running download only with the same credentials: another caller's token
// (or none) neither rides on the running operation nor swaps its own in; it gets an operation
// of its own, which waits for the model.
TEST_F(ModelServiceHubTokenTest, OnlyARequestWithTheSameTokenJoinsARunningDownload) {
  hub_.SetFaults({.stall_after_bytes = 1 << 20, .stall_count = 1});
  grpc::ClientContext first_context;
  auto first = Download(&first_context, kHubToken);
  v1::OperationEvent first_event;
  ASSERT_TRUE(first->Read(&first_event));
  ASSERT_TRUE(testing::WaitFor([&] { return hub_.bytes_sent() > 0; }));

  auto first_event_of = [&](const std::string& token) {
    grpc::ClientContext context;
    auto stream = Download(&context, token);
    v1::OperationEvent event;
    EXPECT_TRUE(stream->Read(&event));
    context.TryCancel();  // leaves the operation running: a disconnect is not a cancel
    stream->Finish();
    return event.operation_id();
  };
  EXPECT_EQ(first_event_of(kHubToken), first_event.operation_id());
  EXPECT_NE(first_event_of("hf_another0123456789abcdefGHIJ"), first_event.operation_id());
  EXPECT_NE(first_event_of(""), first_event.operation_id());
  first_context.TryCancel();
  first->Finish();
}

// A token that cannot be one is refused before anything starts, and the error does not quote
// it; so is a token given twice.
TEST_F(ModelServiceHubTokenTest, AMalformedTokenIsRefusedWithoutBeingQuoted) {
  for (const std::string& token :
       {std::string("hf_with space_0123456789"), std::string(2000, 'a')}) {
    grpc::ClientContext context;
    auto stream = Download(&context, token);
    v1::OperationEvent event;
    EXPECT_FALSE(stream->Read(&event));
    const grpc::Status status = stream->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_THAT(status.error_message(), HasSubstr("x-llorch-hub-token"));
    EXPECT_THAT(status.error_message(), Not(HasSubstr(token)));
    EXPECT_EQ(testing::ErrorHintOf(status).reason(), "INVALID_REQUEST");
  }
  grpc::ClientContext twice;
  twice.AddMetadata("x-llorch-hub-token", kHubToken);
  auto stream = Download(&twice, kHubToken);
  v1::OperationEvent event;
  EXPECT_FALSE(stream->Read(&event));
  EXPECT_EQ(stream->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(agent_.context->operations->List().empty());
  EXPECT_TRUE(hub_.requests().empty());
}

// GetHostInfo says which Hub the agent downloads from, and whether it is offline, so that a
// client can tell its own settings from the agent's.
TEST_F(ModelServiceHubTokenTest, HostInfoNamesTheAgentsHub) {
  auto agent = v1::AgentService::NewStub(agent_.server->InProcessChannel());
  v1::HostInfo info;
  grpc::ClientContext context;
  ASSERT_TRUE(agent->GetHostInfo(&context, v1::GetHostInfoRequest(), &info).ok());
  EXPECT_EQ(info.hub_endpoint(), hub_.endpoint());
  EXPECT_FALSE(info.hub_offline());
}

}  // namespace
}  // namespace llorch
