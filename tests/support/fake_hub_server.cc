// The fake Hub (fake_hub.h) as a program, for scripts that drive the built CLI from outside the
// test harness (tests/hostile/). It serves GGUF files it makes itself and runs until killed.
//
//   fake_hub_server --ready FILE [--model REPO FILE SIZE [lfs|git]]... [--corrupt-offset N]
//                   [--ignore-range] [--sha1-etags]
//
// --model adds a valid GGUF file of SIZE bytes at REPO/FILE: `lfs` (the default) as an LFS file
// (302 to the CDN, X-Linked-Etag: its SHA-256), `git` as a plain git file (ETag: its git blob
// SHA-1, bytes from the Hub). --corrupt-offset makes every response covering that byte send it
// flipped: a server that lies about the bytes. --sha1-etags announces the LFS files by their git
// blob SHA-1 (ETag, no X-Linked-Etag) while still redirecting to the CDN. Once serving, the
// endpoint (the value for HF_ENDPOINT) is written to the --ready file.
#include <pthread.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "tests/support/fake_hub.h"
#include "tests/support/gguf_writer.h"

namespace {

int Usage() {
  std::cerr << "usage: fake_hub_server --ready FILE [--model REPO FILE SIZE [lfs|git]]... "
               "[--corrupt-offset N] [--ignore-range] [--sha1-etags]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using llorch::testing::FakeHub;
  using llorch::testing::FakeHubFaults;
  std::vector<std::string> args(argv + 1, argv + argc);
  // Blocked before the servers' threads start, so that sigwait below receives them.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::string ready;
  FakeHubFaults faults;
  FakeHub hub;
  uint32_t seed = 1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "--ready" && i + 1 < args.size()) {
      ready = args[++i];
    } else if (flag == "--model" && i + 3 < args.size()) {
      const std::string repo = args[i + 1], file = args[i + 2];
      const uint64_t size = std::strtoull(args[i + 3].c_str(), nullptr, 10);
      i += 3;
      bool lfs = true;
      if (i + 1 < args.size() && (args[i + 1] == "lfs" || args[i + 1] == "git")) {
        lfs = args[++i] == "lfs";
      }
      hub.AddFile(repo, file, llorch::testing::GgufFileOfSize(size, seed++), lfs);
    } else if (flag == "--corrupt-offset" && i + 1 < args.size()) {
      faults.corrupt_offset = std::strtoll(args[++i].c_str(), nullptr, 10);
    } else if (flag == "--ignore-range") {
      faults.ignore_range = true;
    } else if (flag == "--sha1-etags") {
      faults.sha1_etags = true;
    } else {
      return Usage();
    }
  }
  if (ready.empty()) return Usage();
  hub.SetFaults(faults);
  {
    const std::string temp = ready + ".tmp";
    std::ofstream(temp) << hub.endpoint() << "\n";
    std::rename(temp.c_str(), ready.c_str());
  }
  int signal = 0;
  sigwait(&stop, &signal);
  return 0;
}
