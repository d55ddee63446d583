#!/usr/bin/env bash
# The whole test suite: set up a fresh Debian 12 machine, check that the C++ sources are formatted
# (scripts/format.sh --check; scripts/format.sh formats them), build the dev preset, run every test
# (unit, integration, e2e); build the tests where threads share state with ThreadSanitizer and
# run them again (tsan preset: any race report fails); fuzz the parsers of untrusted bytes with
# libFuzzer, each target for LLORCH_FUZZ_SECONDS (default 60; scripts/fuzz.sh, fuzz/README.md:
# any finding fails); then build the release binaries the
# README's main command runs (their -O3 warnings differ from the dev build's) and check that they
# start. Extra arguments go to the dev suite's ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/format.sh --check
scripts/build.sh dev
ctest --preset dev "$@"
scripts/build.sh tsan
ctest --preset tsan
scripts/fuzz.sh "${LLORCH_FUZZ_SECONDS:-60}"
scripts/build.sh release llorch-pool pool-agent
build/release/client/llorch-pool --standalone models catalog >/dev/null
build/release/agent/pool-agent --version
