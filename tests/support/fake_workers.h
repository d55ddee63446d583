// What worker tests need around the fake worker (fake_worker.cc): a bin directory holding it
// under the real workers' names and a stand-in nvidia-smi, a downloaded and verified model in a
// models directory, a free port, and a teardown that leaves no worker running.
#ifndef LLORCH_TESTS_SUPPORT_FAKE_WORKERS_H_
#define LLORCH_TESTS_SUPPORT_FAKE_WORKERS_H_

#include <string>
#include <vector>

namespace llorch::testing {

// Makes `dir` with llorch-cpu-candled, llorch-cuda-candled and llorch-metal-candled (symlinks to
// `dir`/fake_worker, a link to or copy of the fake worker `fake_worker`: a program of this
// directory's own) and an nvidia-smi that lists `gpu_indexes` (--query-gpu) and, for
// --query-compute-apps, the "PID, MIB" lines of `dir`/compute-apps whose process is alive (the
// driver frees an exited process's memory) plus every line of `dir`/stuck-apps; while
// `dir`/driver-broken exists, that query fails as a broken driver does (exit 18).
void WriteWorkerBinDir(const std::string& dir, const std::string& fake_worker,
                       const std::vector<int>& gpu_indexes);

// Puts catalog model file `dir`/`file` under `models_dir` with a manifest that vouches for it
// (the store's kDownloaded); without `verified`, the file alone (kUnverified).
void PlaceModel(const std::string& models_dir, const std::string& dir, const std::string& file,
                bool verified = true);

// A TCP port nothing listens on right now (one the kernel picked).
int UnusedPort();

// Kills (SIGKILL) the process group of every worker recorded under `state_dir`/workers whose
// process still is the one recorded.
void KillRecordedWorkers(const std::string& state_dir);

}  // namespace llorch::testing

#endif  // LLORCH_TESTS_SUPPORT_FAKE_WORKERS_H_
