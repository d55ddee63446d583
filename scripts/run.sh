#!/usr/bin/env bash
# The main job: set up a fresh Debian 12 machine, build, and run llorch-pool with the given
# arguments (default: `models catalog`).
# Usage: scripts/run.sh [llorch-pool arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh release llorch-pool pool-agent >&2
[ $# -gt 0 ] || set -- models catalog
exec build/release/client/llorch-pool "$@"
