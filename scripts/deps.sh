#!/usr/bin/env bash
# Installs every build and test dependency from Debian 12 packages. Idempotent: when all packages
# are already present it does nothing and touches no network.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git python3
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev libabsl-dev
  libcli11-dev libtomlplusplus-dev libspdlog-dev libfmt-dev
  libssl-dev libcurl4-openssl-dev libcpp-httplib-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  curl  # bench/download_bench runs it side by side with our downloader
  openssl  # tests make a CA, server and client certificates (access_test)
  clang-format  # scripts/format.sh
  clang libclang-rt-14-dev  # the fuzz preset: libFuzzer, ASan and UBSan runtimes (scripts/fuzz.sh)
  zsh fish groff-base  # the completion scripts and the man page are tried in the shells and groff
  systemd python3-yaml  # tests/deploy: systemd-analyze verify, the Kubernetes YAML
  python3-grpcio python3-protobuf  # tests/api: docs/examples/orchestrator_client.py runs against an agent
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing: ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
