#!/usr/bin/env bash
# Builds the release preset and runs every benchmark, printing medians and ratios.
# Usage: bench/run.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release llorch-pool pool-agent startup_bench >&2
build/release/bench/startup_bench "$PWD/build/release/client/llorch-pool" "${1:-50}"
