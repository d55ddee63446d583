#!/usr/bin/env bash
# Builds the fuzz preset (clang, libFuzzer + ASan + UBSan) and runs every fuzz target of fuzz/ for
# SECONDS each (default 60), two at a time, each on a copy of its seed corpus
# (tests/fuzz_corpus/<target>/; the inputs it discovers stay in build/fuzz/runs/<target>/corpus).
# Fails when any target reports a crash, a failed check, a leak, undefined behaviour, a timeout
# or running out of memory, and prints the input that reproduces it. fuzz/README.md explains.
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   e.g. scripts/fuzz.sh 600 gguf
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
case "$seconds" in '' | *[!0-9]*)
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]" >&2
  exit 2
  ;;
esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for source in fuzz/*_fuzz.cc; do
    name="${source#fuzz/}"
    targets+=("${name%_fuzz.cc}")
  done
fi

scripts/build.sh fuzz

runs=build/fuzz/runs
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"

run_target() {
  local target="$1" dir="$runs/$1"
  rm -rf "$dir"
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp tests/fuzz_corpus/"$target"/* "$dir/corpus/"
  local rc=0
  # -timeout: one input taking 10 s is a finding (a hang); -rss_limit_mb: so is 2 GiB of memory.
  "build/fuzz/fuzz/${target}_fuzz" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$dir/artifacts/" "$dir/corpus" >"$dir/log" 2>&1 ||
    rc=$?
  echo "$rc" >"$dir/rc"
}

for target in "${targets[@]}"; do
  if [ ! -d "tests/fuzz_corpus/$target" ] || [ ! -x "build/fuzz/fuzz/${target}_fuzz" ]; then
    echo "no fuzz target '$target' (fuzz/${target}_fuzz.cc, tests/fuzz_corpus/$target/)" >&2
    exit 2
  fi
done
echo "fuzzing ${#targets[@]} targets for ${seconds} s each, two at a time"
running=0
for target in "${targets[@]}"; do
  if [ "$running" -ge 2 ]; then
    wait -n || true
    running=$((running - 1))
  fi
  run_target "$target" &
  running=$((running + 1))
done
wait || true

failed=0
for target in "${targets[@]}"; do
  dir="$runs/$target"
  rc="$(cat "$dir/rc" 2>/dev/null || echo '?')"
  done_line="$(grep -a 'DONE' "$dir/log" | tail -1 || true)"
  execs="$(sed -n 's/.*exec\/s: \([0-9]*\).*/\1/p' <<<"$done_line")"
  units="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)"
  artifacts=("$dir"/artifacts/*)
  if [ "$rc" = 0 ] && [ ! -e "${artifacts[0]}" ]; then
    printf '%-16s ok   %10s runs  %8s exec/s  corpus %s inputs\n' "$target" "${units:-?}" \
      "${execs:-?}" "$(find "$dir/corpus" -type f | wc -l)"
    continue
  fi
  failed=1
  printf '%-16s FAIL (exit %s)\n' "$target" "$rc"
  grep -a -m1 -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|FUZZ_CHECK' \
    "$dir/log" | sed 's/^/  /' || true
  for artifact in "${artifacts[@]}"; do
    [ -e "$artifact" ] || continue
    echo "  reproducer: $artifact"
    echo "  run again:  build/fuzz/fuzz/${target}_fuzz $artifact"
  done
  echo "  log: $dir/log"
done
exit "$failed"
