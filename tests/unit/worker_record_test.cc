// Worker state files as WorkerRecords lists them: every rewrite is seen (List() parses a file
// again only when its bytes changed, so this is what could go stale), a removed record is gone,
// and a file that is not a record is skipped.
#include "agent/workers/worker_record.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "tests/support/run_command.h"

namespace llorch {
namespace {

WorkerRecord Record(const std::string& id, uint32_t port) {
  WorkerRecord record;
  record.id = id;
  record.backend = "cpu";
  record.port = port;
  return record;
}

std::vector<uint32_t> Ports(const WorkerRecords& records) {
  std::vector<uint32_t> ports;
  for (const WorkerRecord& record : records.List()) ports.push_back(record.port);
  return ports;
}

TEST(WorkerRecordsTest, ListSeesEveryRewriteEvenOfTheSameSize) {
  testing::TempDir temp;
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(temp.path());
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_TRUE(records->Write(Record("w", 8001)).ok());
  EXPECT_EQ(Ports(*records), std::vector<uint32_t>{8001});
  // The same length, written within the same clock tick: neither size nor mtime tells.
  for (const uint32_t port : {8002u, 8001u, 8003u}) {
    ASSERT_TRUE(records->Write(Record("w", port)).ok());
    EXPECT_EQ(Ports(*records), std::vector<uint32_t>{port});
  }
}

TEST(WorkerRecordsTest, ARemovedRecordIsGoneAndAForeignFileIsSkipped) {
  testing::TempDir temp;
  absl::StatusOr<WorkerRecords> records = WorkerRecords::Open(temp.path());
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_TRUE(records->Write(Record("a", 8001)).ok());
  ASSERT_TRUE(records->Write(Record("b", 8002)).ok());
  EXPECT_EQ(Ports(*records), (std::vector<uint32_t>{8001, 8002}));
  std::filesystem::remove(temp.path() + "/workers/a.json");
  std::ofstream(temp.path() + "/workers/b.json") << "not a record";
  EXPECT_EQ(Ports(*records), std::vector<uint32_t>{});
  ASSERT_TRUE(records->Write(Record("b", 8004)).ok());
  EXPECT_EQ(Ports(*records), std::vector<uint32_t>{8004});
}

}  // namespace
}  // namespace llorch
