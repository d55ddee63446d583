#!/usr/bin/env bash
# The whole test suite: set up a fresh Debian 12 machine, build the dev preset, run every test
# (unit, integration, e2e). Extra arguments go to ctest, e.g. `scripts/test.sh -L unit`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh dev
ctest --preset dev "$@"
