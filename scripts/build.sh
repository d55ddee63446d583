#!/usr/bin/env bash
# Installs dependencies, then configures and builds one CMake preset (default: release).
# Usage: scripts/build.sh [dev|release|asan|tsan|fuzz] [target...]
# No target: everything, tests too; for tsan, only what its tests need (target tsan_tests).
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"
shift || true
scripts/deps.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$PWD}"  # cache hits across clones and worktrees
# Debug builds hash the working directory unless told not to; without this no other clone hits.
export CCACHE_NOHASHDIR="${CCACHE_NOHASHDIR:-1}"
if [ ! -f "build/$preset/build.ninja" ]; then
  cmake --preset "$preset" >/dev/null
fi
targets=()
for target in "$@"; do targets+=(--target "$target"); done
cmake --build --preset "$preset" "${targets[@]}"
