// Store benchmark: `llorch-pool models list`, `models info` and `models du` (standalone) with all
// catalog models on disk at their real sizes (sparse files with a GGUF header and a manifest),
// side by side with `du -sh` and `ls -lR` on the same directory, and `python3 -c pass`, the
// floor of any Python tool. Interleaved rounds; prints medians and ratios.
// Usage: store_bench LLORCH_POOL [RUNS]
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>

#include "agent/models/builtin_catalog.h"
#include "agent/models/catalog.h"
#include "agent/models/store/model_store.h"
#include "bench/bench_util.h"

namespace {

// Lays out every catalog model under `models_dir`; returns false on failure.
bool FillStore(const std::filesystem::path& models_dir) {
  absl::StatusOr<llorch::Catalog> catalog =
      llorch::Catalog::Parse(llorch::BuiltInCatalogText(), llorch::kBuiltInCatalogName);
  if (!catalog.ok()) return false;
  llorch::ModelStore store(models_dir);
  const std::string header = llorch::bench::MinimalGgufHeader();
  for (const llorch::CatalogModel& model : catalog->models()) {
    const std::filesystem::path path = store.ModelPath(model);
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << header;
    std::filesystem::resize_file(path, model.size_bytes);  // sparse: no real bytes written
    llorch::Manifest manifest;
    manifest.repo = model.repo;
    manifest.file = model.file;
    manifest.size = model.size_bytes;
    manifest.sha256 = std::string(64, '0');
    if (!store.WriteManifest(model, manifest).ok()) return false;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  using llorch::bench::Command;
  const llorch::bench::Args args = llorch::bench::ParseArgs(argc, argv, 30);
  const std::string work = llorch::bench::EnterStandaloneWorkDir();
  const std::string models = work + "/models";
  if (!FillStore(models)) {
    std::fprintf(stderr, "cannot lay out the models in %s\n", models.c_str());
    return 1;
  }
  setenv("LLORCH_MODELS_DIR", models.c_str(), 1);
  const std::string& cli = args.cli;
  const int runs = args.runs;

  std::vector<Command> commands = {
      {"python3 -c pass", {"python3", "-c", "pass"}, {}},
      {"du -sh MODELS", {"du", "-sh", models}, {}},
      {"ls -lR MODELS", {"ls", "-lR", models}, {}},
      {"llorch-pool models list", {cli, "models", "list"}, {}},
      {"llorch-pool models du", {cli, "models", "du"}, {}},
      {"llorch-pool models info granite", {cli, "models", "info", "granite"}, {}},
      {"llorch-pool models info qwen", {cli, "models", "info", "qwen"}, {}},
  };
  llorch::bench::RunRounds(commands, runs);
  std::filesystem::remove_all(work);
  std::printf("store, all catalog models present (sparse), median of %d runs\n", runs);
  const double python = llorch::bench::Median(commands[0].millis);
  const double du = llorch::bench::Median(commands[1].millis);
  for (const Command& command : commands) {
    const double median = llorch::bench::Median(command.millis);
    std::printf("  %-34s %8.2f ms   %6.2fx du -sh   %6.3fx python3 -c pass\n",
                command.label.c_str(), median, median / du, median / python);
  }
  return 0;
}
