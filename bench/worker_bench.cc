// Worker benchmark (issue 12), with the fake llorch-candled (tests/support/fake_worker.cc) in PATH
// under the real workers' names and a downloaded, verified model:
//   (a) from the worker's ready moment (it stamps CLOCK_MONOTONIC just before its ready callback)
//       to `llorch-pool worker spawn cpu --wait` printing it (its first output) and exiting,
//       standalone and through pool-agent; against the loop an operator's script otherwise runs,
//       `until curl -sf
//       .../health; do sleep 1; done`, started with the worker. Bar: within 20 ms.
//   (b) `llorch-pool worker list` with 100 live workers (through pool-agent, and standalone),
//       against `ps -e` on the same host. Bar: no slower than `ps -e`.
//   (c) 20 `worker spawn --wait` at once through pool-agent, from the first start to the last
//       ready; against a script starting the same 20 workers itself and polling each /health
//       every 0.1 s.
// Every worker "loads its model" for 300 ms (FAKE_WORKER_READY_DELAY_MS), so a polling loop's
// first look finds it still loading, as with a real model.
// Usage: worker_bench LLORCH_POOL [RUNS]   (pool-agent: next to it in the build tree, or
// $POOL_AGENT)
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "tests/support/fake_workers.h"

namespace {

namespace fs = std::filesystem;
using llorch::bench::Command;

constexpr int kListedWorkers = 100;
constexpr int kBurst = 20;

int64_t MonotonicNanos() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec * 1000000000LL + now.tv_nsec;
}

class Bench {
 public:
  Bench(std::string cli, std::string agent, std::string work)
      : cli_(std::move(cli)), agent_(std::move(agent)), work_(std::move(work)) {
    fs::create_directories(stamps());
  }

  std::string stamps() const { return work_ + "/stamps"; }
  std::string state_dir() const { return work_ + "/state"; }

  // Milliseconds from worker `id`'s ready stamp to `exited_at`.
  double SinceReady(const std::string& id, int64_t exited_at) const {
    int64_t stamp = 0;
    std::ifstream(stamps() + "/" + id) >> stamp;
    if (stamp == 0) {
      std::fprintf(stderr, "worker %s left no ready stamp\n", id.c_str());
      std::exit(1);
    }
    return static_cast<double>(exited_at - stamp) / 1e6;
  }

  // (a) ours: from the worker's ready moment to the spawn printing it (its first output), and to
  // the spawn's exit.
  struct Reported {
    double printed = 0;
    double exited = 0;
  };
  Reported SpawnReadyLatency(const std::string& id, const std::vector<std::string>& mode) {
    std::vector<std::string> argv = {cli_};
    argv.insert(argv.end(), mode.begin(), mode.end());
    for (const char* arg : {"worker", "spawn", "cpu", "--model", "tinyllama", "--wait", "--id"}) {
      argv.push_back(arg);
    }
    argv.push_back(id);
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) std::exit(1);
    const pid_t spawn = llorch::bench::SpawnQuiet(argv, out[1]);
    close(out[1]);
    char byte = 0;
    const bool printed = read(out[0], &byte, 1) == 1;
    const int64_t printed_at = MonotonicNanos();
    while (read(out[0], &byte, 1) == 1) {
    }
    close(out[0]);
    llorch::bench::WaitSucceeded(spawn, "llorch-pool worker spawn");
    const int64_t exited_at = MonotonicNanos();
    if (!printed) {
      std::fprintf(stderr, "llorch-pool worker spawn printed nothing\n");
      std::exit(1);
    }
    return {SinceReady(id, printed_at), SinceReady(id, exited_at)};
  }

  // (a) theirs: a worker started by hand, and the curl loop waiting for its /health.
  double CurlLoopLatency(const std::string& id, const std::string& sleep) {
    const int port = llorch::testing::UnusedPort();
    const pid_t worker = StartWorkerByHand(id, port);
    llorch::bench::WaitSucceeded(llorch::bench::SpawnQuiet({"sh", "-c", PollScript(port, sleep)}),
                                 "curl loop");
    const double latency = SinceReady(id, MonotonicNanos());
    kill(worker, SIGKILL);
    waitpid(worker, nullptr, 0);
    return latency;
  }

  // (c) ours: 20 spawns at once; milliseconds until the last exited.
  double SpawnBurst(int round) {
    const int64_t start = MonotonicNanos();
    std::vector<pid_t> spawns;
    for (int i = 0; i < kBurst; ++i) {
      spawns.push_back(llorch::bench::SpawnQuiet(
          {cli_, "worker", "spawn", "cpu", "--model", "tinyllama", "--wait", "--id",
           "burst-" + std::to_string(round) + "-" + std::to_string(i)}));
    }
    for (pid_t spawn : spawns) llorch::bench::WaitSucceeded(spawn, "llorch-pool worker spawn");
    const double millis = static_cast<double>(MonotonicNanos() - start) / 1e6;
    llorch::testing::KillRecordedWorkers(state_dir());
    return millis;
  }

  // (c) theirs: the same 20 workers started by a script, each polled until healthy.
  double ScriptBurst(int round) {
    const int64_t start = MonotonicNanos();
    std::vector<pid_t> workers;
    std::vector<pid_t> polls;
    for (int i = 0; i < kBurst; ++i) {
      const int port = llorch::testing::UnusedPort();
      workers.push_back(
          StartWorkerByHand("script-" + std::to_string(round) + "-" + std::to_string(i), port));
      polls.push_back(llorch::bench::SpawnQuiet({"sh", "-c", PollScript(port, "0.1")}));
    }
    for (pid_t poll : polls) llorch::bench::WaitSucceeded(poll, "curl loop");
    const double millis = static_cast<double>(MonotonicNanos() - start) / 1e6;
    for (pid_t worker : workers) {
      kill(worker, SIGKILL);
      waitpid(worker, nullptr, 0);
    }
    return millis;
  }

  pid_t StartAgent() const {
    const pid_t agent = llorch::bench::SpawnQuiet({agent_});
    const std::string socket = work_ + "/llorch/pool-agent.sock";
    for (int i = 0; i < 500 && !fs::exists(socket); ++i) usleep(10000);
    if (!fs::exists(socket)) {
      std::fprintf(stderr, "pool-agent did not start (no %s)\n", socket.c_str());
      std::exit(1);
    }
    return agent;
  }

 private:
  static std::string PollScript(int port, const std::string& sleep) {
    return "until curl -sf http://127.0.0.1:" + std::to_string(port) +
           "/health >/dev/null; do sleep " + sleep + "; done";
  }

  // The fake worker as an operator would start it, without anyone to answer its ready callback
  // (it never calls back; its /health turns healthy all the same).
  static pid_t StartWorkerByHand(const std::string& id, int port) {
    setenv("FAKE_WORKER_NO_CALLBACK", "1", 1);
    const pid_t worker = llorch::bench::SpawnQuiet(
        {"llorch-cpu-candled", "--worker-id", id, "--model", "/dev/null", "--port",
         std::to_string(port), "--callback-url", "http://127.0.0.1:9/ready"});
    unsetenv("FAKE_WORKER_NO_CALLBACK");
    return worker;
  }

  const std::string cli_;
  const std::string agent_;
  const std::string work_;
};

void Print(const char* label, const std::vector<double>& millis, double reference,
           const char* reference_name) {
  const double median = llorch::bench::Median(millis);
  std::printf("  %-44s %9.2f ms   %7.3fx %s\n", label, median, median / reference, reference_name);
}

}  // namespace

int main(int argc, char** argv) {
  const llorch::bench::Args args = llorch::bench::ParseArgs(argc, argv, 20);
  const char* agent_override = std::getenv("POOL_AGENT");
  const std::string agent =
      agent_override != nullptr
          ? std::string(agent_override)
          : (fs::path(args.cli).parent_path().parent_path() / "agent/pool-agent").string();
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  Bench bench(args.cli, agent, work);
  llorch::testing::WriteWorkerBinDir(work + "/bin", FAKE_WORKER, {0});
  llorch::testing::PlaceModel(work + "/models", "tinyllama",
                              "tinyllama-1.1b-chat-v1.0.Q4_K_M.gguf");
  // A callback port of its own (the default one may be another agent's).
  fs::create_directories(work + "/llorch");
  std::ofstream(work + "/llorch/pool.toml")
      << "[workers]\ncallback_port = " << llorch::testing::UnusedPort() << "\n";
  setenv("PATH", (work + "/bin:" + std::getenv("PATH")).c_str(), 1);
  setenv("LLORCH_MODELS_DIR", (work + "/models").c_str(), 1);
  setenv("LLORCH_STATE_DIR", bench.state_dir().c_str(), 1);
  setenv("FAKE_WORKER_READY_STAMP_DIR", bench.stamps().c_str(), 1);
  setenv("FAKE_WORKER_READY_DELAY_MS", "300", 1);

  // (a)
  std::vector<double> standalone, standalone_exit, through_agent, through_agent_exit, curl_1s,
      curl_100ms;
  for (int i = 0; i < args.runs; ++i) {
    const Bench::Reported alone =
        bench.SpawnReadyLatency("alone-" + std::to_string(i), {"--standalone"});
    standalone.push_back(alone.printed);
    standalone_exit.push_back(alone.exited);
    curl_1s.push_back(bench.CurlLoopLatency("curl1-" + std::to_string(i), "1"));
    curl_100ms.push_back(bench.CurlLoopLatency("curl01-" + std::to_string(i), "0.1"));
  }
  llorch::testing::KillRecordedWorkers(bench.state_dir());
  const pid_t agent_pid = bench.StartAgent();
  for (int i = 0; i < args.runs; ++i) {
    const Bench::Reported reported = bench.SpawnReadyLatency("agent-" + std::to_string(i), {});
    through_agent.push_back(reported.printed);
    through_agent_exit.push_back(reported.exited);
  }
  llorch::testing::KillRecordedWorkers(bench.state_dir());
  const double curl_median = llorch::bench::Median(curl_1s);
  std::printf("(a) worker ready -> reported, median of %d runs\n", args.runs);
  Print("worker spawn --wait prints (standalone)", standalone, curl_median, "the 1 s curl loop");
  Print("... and exits (standalone)", standalone_exit, curl_median, "the 1 s curl loop");
  Print("worker spawn --wait prints (pool-agent)", through_agent, curl_median, "the 1 s curl loop");
  Print("... and exits (pool-agent)", through_agent_exit, curl_median, "the 1 s curl loop");
  Print("until curl -sf /health; do sleep 1", curl_1s, curl_median, "the 1 s curl loop");
  Print("until curl -sf /health; do sleep 0.1", curl_100ms, curl_median, "the 1 s curl loop");

  // (b)
  setenv("FAKE_WORKER_READY_DELAY_MS", "0", 1);
  for (int i = 0; i < kListedWorkers; ++i) {
    llorch::bench::WaitSucceeded(
        llorch::bench::SpawnQuiet({args.cli, "worker", "spawn", "cpu", "--model", "tinyllama",
                                   "--no-wait", "--id", "listed-" + std::to_string(i)}),
        "llorch-pool worker spawn");
  }
  std::vector<Command> lists = {
      {"ps -e", {"ps", "-e"}, {}},
      {"llorch-pool worker list (pool-agent)", {args.cli, "worker", "list"}, {}},
      {"llorch-pool worker list (standalone)", {args.cli, "--standalone", "worker", "list"}, {}},
  };
  llorch::bench::RunRounds(lists, args.runs);
  llorch::testing::KillRecordedWorkers(bench.state_dir());
  const double ps = llorch::bench::Median(lists[0].millis);
  std::printf("(b) listing %d live workers, median of %d runs\n", kListedWorkers, args.runs);
  for (const Command& command : lists) Print(command.label.c_str(), command.millis, ps, "ps -e");

  // (c)
  setenv("FAKE_WORKER_READY_DELAY_MS", "300", 1);
  const int bursts = args.runs < 5 ? args.runs : 5;
  std::vector<double> ours, script;
  for (int round = 0; round < bursts; ++round) {
    ours.push_back(bench.SpawnBurst(round));
    script.push_back(bench.ScriptBurst(round));
  }
  const double script_median = llorch::bench::Median(script);
  std::printf("(c) %d workers at once, start -> all ready, median of %d rounds\n", kBurst, bursts);
  Print("20 x worker spawn --wait (pool-agent)", ours, script_median, "the script");
  Print("script: start 20, poll /health every 0.1 s", script, script_median, "the script");

  kill(agent_pid, SIGTERM);
  waitpid(agent_pid, nullptr, 0);
  fs::remove_all(work);
  return 0;
}
