#!/usr/bin/env bash
# Builds the release preset and runs every benchmark, printing medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release llorch-pool pool-agent startup_bench verify_bench store_bench \
  git_bench download_bench doctor_bench worker_bench host_info_bench fake_nvml >&2
cli="$PWD/build/release/client/llorch-pool"
build/release/bench/startup_bench "$cli" 50
build/release/bench/verify_bench "$cli" 5 1024
build/release/bench/store_bench "$cli" 30
build/release/bench/git_bench "$cli" 20
build/release/bench/doctor_bench "$cli" 20
build/release/bench/host_info_bench build/release/tests/libfake_nvml.so 200
build/release/bench/download_bench "$cli" 3 1024
build/release/bench/worker_bench "$cli" 20
