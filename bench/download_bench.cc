// Download benchmark: `llorch-pool models download` (native Hub client, standalone) from the fake
// Hub, run in this process on loopback, side by side with curl fetching the same bytes from the
// same CDN (the signed URL the Hub would redirect to):
//   (a) a 1 GiB file (MIB MiB), against `curl -o`; bar: at least 0.9x curl's throughput.
//   (b) a CDN that paces each connection to 16 MiB/s and a 256 MiB file (above 64 MiB our client
//       uses 8 parallel connections), against curl's single stream; bar: at least 5x curl's
//       throughput.
//   (c) the downloads of (a) with their verification (ours hashes while downloading and installs
//       only a verified file), against `curl -o` followed by `sha256sum`; bar: at most 0.5x
//       their wall time.
// Every run starts afresh: the model dirs and curl's file are deleted and the page cache synced,
// untimed, before each.
// Prints medians, throughput and ratios.
// Usage: download_bench LLORCH_POOL [RUNS] [MIB]
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/bench_util.h"
#include "tests/support/fake_hub.h"

namespace {

using llorch::bench::Command;

constexpr double kMib = 1 << 20;
constexpr uint64_t kCappedMib = 256;
constexpr uint64_t kCapBytesPerSecond = 16 << 20;

// A valid GGUF file: the minimal header, then `mib` MiB of pseudo-random bytes (xorshift).
std::string GgufFile(uint64_t mib, uint64_t seed) {
  std::string content = llorch::bench::MinimalGgufHeader();
  const size_t header = content.size();
  content.resize(header + mib * (1 << 20));
  uint64_t state = seed;
  for (size_t at = header; at < content.size(); at += sizeof(state)) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    std::memcpy(content.data() + at, &state, std::min(sizeof(state), content.size() - at));
  }
  return content;
}

std::string CatalogEntry(const std::string& id, const std::string& repo, uint64_t size) {
  return "[[models]]\nid = \"" + id + "\"\nname = \"Benchmark " + id + "\"\nrepo = \"" + repo +
         "\"\nfile = \"" + id + ".gguf\"\ndir = \"" + id +
         "\"\nsize_bytes = " + std::to_string(size) +
         "\nparams = \"0\"\ndescription = \"Pseudo-random bytes behind a GGUF header\"\n"
         "verified = true\n\n";
}

Command CurlCommand(const std::string& file, const std::string& url) {
  return {"curl -o", {"curl", "-s", "--fail", "-o", file, url}, {}};
}

// Exits unless `path` holds `size` bytes: the run before really downloaded the file.
void ExpectDownloaded(const std::string& path, uint64_t size) {
  std::error_code error;
  if (std::filesystem::file_size(path, error) != size || error) {
    std::fprintf(stderr, "%s was not downloaded (%llu bytes expected)\n", path.c_str(),
                 static_cast<unsigned long long>(size));
    std::exit(1);
  }
}

const char* Verdict(bool met) { return met ? "meets the bar" : "BELOW THE BAR"; }

}  // namespace

int main(int argc, char** argv) {
  const llorch::bench::Args args = llorch::bench::ParseArgs(argc, argv, 3, " [MIB]");
  const std::string& cli = args.cli;
  const int runs = args.runs;
  const uint64_t mib =
      args.extra.empty() ? 1024 : std::strtoull(args.extra[0].c_str(), nullptr, 10);
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  const std::string models_dir = work + "/models";
  const std::string catalog = work + "/catalog.toml";
  const std::string curl_file = work + "/curl.gguf";  // on the models dir's filesystem
  std::filesystem::create_directories(models_dir);

  llorch::testing::FakeHub hub;
  const std::string big_repo = "bench/big-GGUF";
  const std::string capped_repo = "bench/capped-GGUF";
  const std::string big = GgufFile(mib, 0x9E3779B97F4A7C15ull);
  const std::string capped = GgufFile(kCappedMib, 0xD1B54A32D192ED03ull);
  const uint64_t big_bytes = big.size();
  const uint64_t capped_bytes = capped.size();
  hub.AddFile(big_repo, "big.gguf", big);
  hub.AddFile(capped_repo, "capped.gguf", capped);
  std::ofstream(catalog) << CatalogEntry("big", big_repo, big_bytes)
                         << CatalogEntry("capped", capped_repo, capped_bytes);
  setenv("HF_ENDPOINT", hub.endpoint().c_str(), 1);
  setenv("NO_PROXY", "127.0.0.1", 1);  // for curl and libcurl alike: never a proxy
  setenv("no_proxy", "127.0.0.1", 1);
  const std::string big_url = hub.CdnUrl(big_repo, "big.gguf");
  const std::string capped_url = hub.CdnUrl(capped_repo, "capped.gguf");
  // Every run starts from the same state: no earlier result, and no dirty page cache left for
  // the kernel to write back meanwhile (curl leaves 1 GiB of it; ours fsyncs what it installs).
  auto afresh = [&] {
    std::filesystem::remove_all(models_dir + "/big");
    std::filesystem::remove_all(models_dir + "/capped");
    std::filesystem::remove(curl_file);
    sync();
  };
  auto download = [&](const std::string& id) {
    return std::vector<std::string>{
        cli,        "--standalone", "--catalog", catalog,    "--models-dir",
        models_dir, "-q",           "models",    "download", id};
  };

  // (a) and (c): one set of interleaved rounds; our download's time serves both.
  std::vector<Command> full = {
      CurlCommand(curl_file, big_url),
      {"curl -o && sha256sum",
       {"sh", "-c", "curl -s --fail -o \"$1\" \"$2\" && sha256sum \"$1\"", "sh", curl_file,
        big_url},
       {}},
      {"llorch-pool models download", download("big"), {}},
  };
  llorch::bench::RunRounds(full, runs, afresh);
  ExpectDownloaded(models_dir + "/big/big.gguf", big_bytes);

  // (b): every CDN response paced; no warm-up round (the network is what is measured).
  llorch::testing::FakeHubFaults faults;
  faults.bytes_per_second_per_connection = kCapBytesPerSecond;
  hub.SetFaults(faults);
  std::vector<Command> paced = {
      CurlCommand(curl_file, capped_url),
      {"llorch-pool models download", download("capped"), {}},
  };
  llorch::bench::RunRounds(paced, runs, afresh, /*warm_up=*/false);
  ExpectDownloaded(models_dir + "/capped/capped.gguf", capped_bytes);
  std::filesystem::remove_all(work);

  auto line = [](const Command& command, uint64_t bytes) {
    const double median = llorch::bench::Median(command.millis);
    std::printf("    %-30s %9.1f ms  %8.1f MiB/s", command.label.c_str(), median,
                bytes / kMib / (median / 1000));
  };
  const double curl = llorch::bench::Median(full[0].millis);
  const double curl_sha = llorch::bench::Median(full[1].millis);
  const double ours = llorch::bench::Median(full[2].millis);
  std::printf("download from the fake Hub on loopback, median of %d runs, each from scratch\n",
              runs);
  std::printf("  (a) a %llu MiB file; bar: llorch-pool at least 0.9x curl's throughput\n",
              static_cast<unsigned long long>(mib));
  line(full[0], big_bytes);
  std::printf("\n");
  line(full[2], big_bytes);
  std::printf("   %5.2fx curl's throughput: %s\n", curl / ours, Verdict(curl / ours >= 0.9));

  const double paced_curl = llorch::bench::Median(paced[0].millis);
  const double paced_ours = llorch::bench::Median(paced[1].millis);
  std::printf(
      "  (b) a %llu MiB file, the CDN paced to %llu MiB/s per connection; bar: llorch-pool "
      "at least 5x curl's throughput\n",
      static_cast<unsigned long long>(kCappedMib),
      static_cast<unsigned long long>(kCapBytesPerSecond >> 20));
  line(paced[0], capped_bytes);
  std::printf("\n");
  line(paced[1], capped_bytes);
  std::printf("   %5.2fx curl's throughput: %s\n", paced_curl / paced_ours,
              Verdict(paced_curl / paced_ours >= 5));

  std::printf(
      "  (c) the runs of (a) with the verification; bar: llorch-pool at most 0.5x the time "
      "of curl + sha256sum\n");
  line(full[1], big_bytes);
  std::printf("\n");
  line(full[2], big_bytes);
  std::printf("   %5.2fx curl + sha256sum's time: %s\n", ours / curl_sha,
              Verdict(ours / curl_sha <= 0.5));
  return 0;
}
