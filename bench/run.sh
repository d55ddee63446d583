#!/usr/bin/env bash
# Builds the release preset and runs every benchmark, printing medians and ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release >&2
python3 bench/startup.py build/release "$@"
