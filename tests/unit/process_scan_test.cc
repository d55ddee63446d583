// Finding unmanaged worker processes in /proc: a copy of a program named llorch-test-candled,
// started with the real worker's flags, is found by file name or by resolved path, with its
// identity, group, argv and parsed flags; other programs and exited workers are not.
#include "agent/workers/process_scan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/workers/proc_fs.h"
#include "common/error_reasons.h"
#include "common/status.h"
#include "tests/support/run_command.h"
#include "tests/support/session_child.h"

namespace llorch {
namespace {

using ::llorch::testing::SessionChild;
using ::llorch::testing::SignalChildPath;
using ::testing::IsEmpty;
using ::testing::StartsWith;

const std::vector<std::string> kWorkerArgs = {"--worker-id",
                                              "worker-cuda-0",
                                              "--model",
                                              "tinyllama",
                                              "--port=18080",
                                              "--callback-url",
                                              "http://127.0.0.1:9201/ready",
                                              "--cuda-device",
                                              "0"};

// The entries of `found` for `pid`: other tests may run workers of the same name meanwhile.
std::vector<FoundWorkerProcess> FoundPid(const std::vector<FoundWorkerProcess>& found, pid_t pid) {
  std::vector<FoundWorkerProcess> mine;
  for (const FoundWorkerProcess& process : found) {
    if (process.identity.pid == pid) mine.push_back(process);
  }
  return mine;
}

class ProcessScanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // Not a real worker's name: agents under test in parallel list processes of
    // llorch-cpu-candled as unmanaged workers.
    binary_ = dir_.path() + "/llorch-test-candled";
    std::filesystem::copy_file(SignalChildPath(), binary_);
    std::filesystem::permissions(binary_, std::filesystem::perms::owner_all);
  }

  std::vector<std::string> WorkerArgv() const {
    std::vector<std::string> argv = {binary_};
    argv.insert(argv.end(), kWorkerArgs.begin(), kWorkerArgs.end());
    return argv;
  }

  testing::TempDir dir_;
  std::string binary_;
};

TEST(WorkerFlagsTest, ReadsBothFlagFormsAndIgnoresTheRest) {
  WorkerFlags flags =
      ParseWorkerFlags({"llorch-metal-candled", "--worker-id=w1", "--model", "/models/a b.gguf",
                        "--verbose", "--metal-device", "1", "--port", "80x"});
  EXPECT_EQ(flags.worker_id, "w1");
  EXPECT_EQ(flags.model, "/models/a b.gguf");
  EXPECT_EQ(flags.metal_device, "1");
  EXPECT_EQ(flags.port, 0);  // not a number
  EXPECT_EQ(flags.cuda_device, "");
}

TEST_F(ProcessScanTest, FindsAWorkerByFileNameWithItsFlags) {
  SessionChild worker(WorkerArgv());
  ASSERT_THAT(worker.ReadLine(), StartsWith("ready"));
  std::vector<FoundWorkerProcess> found =
      FoundPid(ScanWorkerProcesses({"/opt/llorch/bin/llorch-test-candled", "llorch-cuda-candled"}),
               worker.pid());
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].identity.pid, worker.pid());
  EXPECT_EQ(found[0].identity.executable, std::filesystem::canonical(binary_).string());
  absl::StatusOr<ProcessIdentity> identity = ReadProcessIdentity(worker.pid());
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_TRUE(found[0].identity.SameProcess(*identity));
  EXPECT_EQ(found[0].pgid, worker.pid());
  EXPECT_EQ(found[0].argv, WorkerArgv());
  EXPECT_EQ(found[0].flags.worker_id, "worker-cuda-0");
  EXPECT_EQ(found[0].flags.model, "tinyllama");
  EXPECT_EQ(found[0].flags.port, 18080);
  EXPECT_EQ(found[0].flags.callback_url, "http://127.0.0.1:9201/ready");
  EXPECT_EQ(found[0].flags.cuda_device, "0");
  EXPECT_EQ(found[0].flags.metal_device, "");
}

TEST_F(ProcessScanTest, FindsAWorkerByResolvedPath) {
  const std::string link = dir_.path() + "/configured-worker";
  std::filesystem::create_symlink(binary_, link);
  SessionChild worker(WorkerArgv());
  ASSERT_THAT(worker.ReadLine(), StartsWith("ready"));
  EXPECT_EQ(FoundPid(ScanWorkerProcesses({link}), worker.pid()).size(), 1u);
}

// The caller's own workers (their pids given) are left out, and so are the children they forked
// into their groups; any other worker is still found in full.
TEST_F(ProcessScanTest, LeavesOutTheCallersWorkersAndTheirGroups) {
  std::vector<std::string> forking = WorkerArgv();
  forking.push_back("--fork-child");
  SessionChild known(forking);
  const std::vector<std::string> ready = absl::StrSplit(known.ReadLine(), ' ');
  ASSERT_EQ(ready.size(), 3u);  // "ready <pid> <child pid>"
  pid_t child = 0;
  ASSERT_TRUE(absl::SimpleAtoi(ready[2], &child));
  SessionChild unknown(WorkerArgv());
  ASSERT_THAT(unknown.ReadLine(), StartsWith("ready"));
  std::vector<FoundWorkerProcess> found = ScanWorkerProcesses({"llorch-test-candled"});
  EXPECT_EQ(FoundPid(found, known.pid()).size(), 1u);
  EXPECT_EQ(FoundPid(found, child).size(), 1u);
  EXPECT_EQ(FoundPid(found, unknown.pid()).size(), 1u);

  found = ScanWorkerProcesses({"llorch-test-candled"}, {known.pid()});
  EXPECT_THAT(FoundPid(found, known.pid()), IsEmpty());
  EXPECT_THAT(FoundPid(found, child), IsEmpty());
  ASSERT_EQ(FoundPid(found, unknown.pid()).size(), 1u);
  EXPECT_EQ(FoundPid(found, unknown.pid())[0].flags.worker_id, "worker-cuda-0");
}

TEST_F(ProcessScanTest, IgnoresOtherProgramsAndExitedWorkers) {
  SessionChild other({SignalChildPath(), "--worker-id", "not-a-worker"});
  ASSERT_THAT(other.ReadLine(), StartsWith("ready"));
  SessionChild exited(WorkerArgv());
  ASSERT_THAT(exited.ReadLine(), StartsWith("ready"));
  kill(exited.pid(), SIGKILL);  // a zombie until reaped: holds nothing
  ASSERT_TRUE(testing::WaitFor([&] {
    absl::StatusOr<ProcStat> stat = ReadProcStat(exited.pid());
    return !stat.ok() || stat->state == 'Z';
  }));
  const std::vector<FoundWorkerProcess> found = ScanWorkerProcesses({"llorch-test-candled"});
  EXPECT_THAT(FoundPid(found, other.pid()), IsEmpty());
  EXPECT_THAT(FoundPid(found, exited.pid()), IsEmpty());
}

TEST_F(ProcessScanTest, IdentifiesAWorkerPidAndRefusesOtherPrograms) {
  SessionChild worker(WorkerArgv());
  ASSERT_THAT(worker.ReadLine(), StartsWith("ready"));
  absl::StatusOr<FoundWorkerProcess> found =
      IdentifyWorkerProcess(worker.pid(), {"llorch-test-candled"});
  ASSERT_TRUE(found.ok()) << found.status();
  EXPECT_EQ(found->pgid, worker.pid());
  EXPECT_EQ(found->flags.worker_id, "worker-cuda-0");

  SessionChild other({SignalChildPath()});
  ASSERT_THAT(other.ReadLine(), StartsWith("ready"));
  absl::StatusOr<FoundWorkerProcess> refused =
      IdentifyWorkerProcess(other.pid(), {"llorch-test-candled"});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(GetReason(refused.status()), reasons::kNotAWorkerProcess);
  EXPECT_THAT(refused.status().message(), ::testing::HasSubstr("nothing was signalled"));

  kill(worker.pid(), SIGKILL);
  ASSERT_TRUE(testing::WaitFor([&] {
    absl::StatusOr<ProcStat> stat = ReadProcStat(worker.pid());
    return !stat.ok() || stat->state == 'Z';
  }));
  EXPECT_TRUE(
      absl::IsNotFound(IdentifyWorkerProcess(worker.pid(), {"llorch-test-candled"}).status()));
}

}  // namespace
}  // namespace llorch
