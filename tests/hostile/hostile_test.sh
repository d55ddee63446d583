#!/usr/bin/env bash
# The data-safety promises, tried from outside the test harness as a hostile user would, against
# the built CLI (standalone, so the agent code runs in it): git sync with untracked paths in the
# way, git clean through a symlinked checkout and with glob and non-ASCII directory names, a Hub
# whose git SHA-1 ETag does not match the bytes it sends, a symlinked .llorch and model dir.
# What is checked is what a user keeps: exit codes, and the bytes on disk before and after.
#
# Usage: tests/hostile/hostile_test.sh BIN_DIR FAKE_HUB_SERVER
#   BIN_DIR holds llorch-pool; FAKE_HUB_SERVER is tests/support/fake_hub_server.cc built.
# Exits 0 when every check held, 1 otherwise (each failed check is printed).
set -uo pipefail

bin_dir=$(cd "$1" && pwd)
fake_hub=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
work=$(mktemp -d)
hub_pid=""
cleanup() {
  [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
pass() { printf 'ok    %s\n' "$1"; }
fail() { printf 'FAIL  %s\n' "$1"; failures=$((failures + 1)); }
check() {  # check DESCRIPTION COMMAND...: passes when the command succeeds
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}
same_content() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
# Every path below a directory with its type, size and checksum: a fingerprint that changes when
# anything is created, removed, replaced or written there.
fingerprint() {
  (cd "$1" && find . -printf '%p %y %s %l\n' | LC_ALL=C sort &&
   find . -type f -exec sha256sum {} + | LC_ALL=C sort)
}

# An isolated user: own HOME and XDG dirs (so no running agent is reached), git identity.
export HOME=$work/home XDG_RUNTIME_DIR=$work/run XDG_CONFIG_HOME=$work/config
export XDG_STATE_HOME=$work/state-home
mkdir -p "$HOME" "$XDG_RUNTIME_DIR" "$XDG_CONFIG_HOME" "$XDG_STATE_HOME"
unset LLORCH_AGENT LLORCH_MODELS_DIR LLORCH_MODEL_BASE_DIR LLORCH_STATE_DIR LLORCH_REPO_ROOT \
      LLORCH_CATALOG GIT_DIR GIT_WORK_TREE
# As root the XDG state dir is not used (/var/lib/llorch/pool is): keep the state here.
export LLORCH_STATE_DIR=$work/state
export GIT_CONFIG_NOSYSTEM=1 GIT_AUTHOR_NAME=hostile GIT_AUTHOR_EMAIL=h@example.invalid
export GIT_COMMITTER_NAME=hostile GIT_COMMITTER_EMAIL=h@example.invalid
git config --global init.defaultBranch main
pool() { "$bin_dir/llorch-pool" --standalone "$@"; }

# origin (bare), a seed clone that pushes, and the operator's checkout at $2.
make_repo() {  # make_repo NAME CHECKOUT
  local origin=$work/$1.git seed=$work/$1-seed
  git init -q --bare "$origin"
  git clone -q "$origin" "$seed" 2>/dev/null
  printf 'hello\n' >"$seed/README.md"
  printf '/.test-models/\n' >"$seed/.gitignore"
  git -C "$seed" add -A && git -C "$seed" commit -qm init && git -C "$seed" push -q origin main
  git clone -q "$origin" "$2"
}
push_upstream() {  # push_upstream NAME PATH CONTENT
  local seed=$work/$1-seed
  mkdir -p "$(dirname "$seed/$2")"
  printf '%s\n' "$3" >"$seed/$2"
  git -C "$seed" add -A && git -C "$seed" commit -qm "add $2" && git -C "$seed" push -q origin main
}

echo "== git sync: untracked paths in the way of origin/main"
co=$work/sync
make_repo sync "$co"
push_upstream sync notes.txt "upstream notes"
push_upstream sync .test-models "upstream file where the models dir is"
printf 'my notes\n' >"$co/notes.txt"
mkdir -p "$co/.test-models/tinyllama"
printf 'model bytes\n' >"$co/.test-models/tinyllama/model.gguf"
head_before=$(git -C "$co" rev-parse HEAD)
out=$(cd "$co" && pool git sync </dev/null 2>&1)
check "sync without a terminal or --force does not go on" [ $? -ne 0 ]
check "the untracked notes survive" same_content "$co/notes.txt" "my notes"
check "the models survive" same_content "$co/.test-models/tinyllama/model.gguf" "model bytes"
out=$(cd "$co" && pool git sync --force </dev/null 2>&1)
check "sync --force refuses to replace the models dir" [ $? -ne 0 ]
check "the refusal names the upstream path in the way" grep -q '\.test-models' <<<"$out"
check "the models survive --force" same_content "$co/.test-models/tinyllama/model.gguf" "model bytes"
check "the untracked notes survive the refused --force" same_content "$co/notes.txt" "my notes"
check "HEAD did not move" [ "$(git -C "$co" rev-parse HEAD)" = "$head_before" ]

co=$work/sync2
make_repo sync2 "$co"
push_upstream sync2 notes.txt "upstream notes"
printf 'my notes\n' >"$co/notes.txt"
out=$(cd "$co" && pool git sync </dev/null 2>&1)
check "sync that would replace an untracked file asks first (refuses without a terminal)" [ $? -ne 0 ]
check "the preview names the untracked file it would replace" grep -q 'notes.txt' <<<"$out"
check "the notes survive the refusal" same_content "$co/notes.txt" "my notes"
out=$(cd "$co" && pool git sync --force </dev/null 2>&1)
check "sync --force goes on once told" [ $? -eq 0 ]
check "sync --force said what it replaced" grep -q 'notes.txt' <<<"$out"

echo "== git clean: the models and state dirs, however they are named or reached"
real=$work/clean-real
make_repo clean "$real"
ln -s "$real" "$work/clean-link"
cd "$work/clean-link" || exit 1
# The protected dirs (each holding a model) and untracked junk, afresh before each case.
seed_clean() {
  for dir in models 'models[1]' 'a\b' modèles state; do
    mkdir -p "$real/$dir/tiny"
    printf 'keep\n' >"$real/$dir/tiny/model.gguf"
  done
  for junk in junk.txt models1 ab 'données.txt'; do printf 'junk\n' >"$real/$junk"; done
}
seed_clean
run_clean() {  # run_clean MODELS_DIR STATE_DIR ARGS...: in the current directory
  local models=$1 state=$2
  shift 2
  LLORCH_MODELS_DIR=$models LLORCH_STATE_DIR=$state pool git clean "$@" </dev/null
}
dry=$(run_clean "$PWD/models" "$PWD/state" --dry-run -o json 2>&1)
check "clean --dry-run through a symlinked checkout works" [ $? -eq 0 ]
real_run=$(run_clean "$PWD/models" "$PWD/state" --force -o json 2>&1)
check "clean --force through a symlinked checkout works" [ $? -eq 0 ]
check "models dir configured as \$PWD/models survives" same_content "$real/models/tiny/model.gguf" keep
check "state dir configured as \$PWD/state survives" same_content "$real/state/tiny/model.gguf" keep
check "untracked junk is removed" [ ! -e "$real/junk.txt" ]
removed_of() { python3 -c 'import json,sys; print("\n".join(sorted(json.load(sys.stdin).get("removed", []))))'; }
check "dry run and real run name the same paths" \
  [ "$(removed_of <<<"$dry")" = "$(removed_of <<<"$real_run")" ]

# The glob and non-ASCII names in the checkout itself, so that each case fails on its own.
cd "$real" || exit 1
seed_clean
run_clean "$PWD/models[1]" "$PWD/a\\b" --force >/dev/null 2>&1
check "a models dir named models[1] survives clean --force" same_content "$real/models[1]/tiny/model.gguf" keep
check "a state dir named a\\b survives clean --force" same_content "$real/a\\b/tiny/model.gguf" keep
check "models1 (what the glob models[1] would match) is junk and goes" [ ! -e "$real/models1" ]

seed_clean
dry=$(run_clean "$PWD/modèles" "$PWD/state" --dry-run -o json 2>/dev/null)
real_run=$(run_clean "$PWD/modèles" "$PWD/state" --force -o json 2>/dev/null)
check "a models dir named modèles survives clean --force" same_content "$real/modèles/tiny/model.gguf" keep
check "non-ASCII junk is removed" [ ! -e "$real/données.txt" ]
check "dry run and real run agree on non-ASCII names" \
  [ "$(removed_of <<<"$dry")" = "$(removed_of <<<"$real_run")" ]
check "the dry run named the non-ASCII junk as it is" grep -q 'données.txt' <<<"$(removed_of <<<"$dry")"
cd "$work" || exit 1

echo "== downloads: a Hub that lies, a symlinked .llorch and model dir"
size=4194304
start_hub() {  # start_hub ARGS...: a fake Hub serving test/tiny's tiny.gguf
  [ -n "$hub_pid" ] && kill "$hub_pid" 2>/dev/null && wait "$hub_pid" 2>/dev/null
  rm -f "$work/hub.ready"
  "$fake_hub" --ready "$work/hub.ready" "$@" &
  hub_pid=$!
  for _ in $(seq 100); do [ -s "$work/hub.ready" ] && break; sleep 0.05; done
  HF_ENDPOINT=$(cat "$work/hub.ready")
  export HF_ENDPOINT
}
cat >"$work/catalog.toml" <<EOF
[[models]]
id = "tiny"
name = "Tiny"
repo = "test/tiny"
file = "tiny.gguf"
dir = "tiny"
size_bytes = $size
verified = true
EOF
export LLORCH_CATALOG=$work/catalog.toml

# The git SHA-1 ETag of a file outside LFS (bytes from the Hub), and an LFS file announced by its
# git SHA-1 with the bytes from the CDN: in both the server alters one byte.
for variant in "git" "lfs --sha1-etags"; do
  models=$work/models-sha1-${variant%% *}
  # shellcheck disable=SC2086  # the variant is the file kind and its flags
  start_hub --model test/tiny tiny.gguf "$size" $variant --corrupt-offset 1000000
  pool --models-dir "$models" models download tiny </dev/null >/dev/null 2>&1
  check "[$variant] a download whose bytes differ from the git SHA-1 ETag fails" [ $? -ne 0 ]
  check "[$variant] nothing is installed under the model's name" [ ! -e "$models/tiny/tiny.gguf" ]
  check "[$variant] no manifest vouches for the bytes" \
    [ ! -e "$models/tiny/.llorch/tiny.gguf.manifest.json" ]
  pool --models-dir "$models" models verify tiny </dev/null >/dev/null 2>&1
  check "[$variant] verify does not say ok" [ $? -ne 0 ]
  # shellcheck disable=SC2086
  start_hub --model test/tiny tiny.gguf "$size" $variant
  pool --models-dir "$models" models download tiny </dev/null >/dev/null 2>&1
  check "[$variant] the same download with the right bytes succeeds" [ $? -eq 0 ]
  check "[$variant] and is installed" [ -f "$models/tiny/tiny.gguf" ]
  pool --models-dir "$models" models verify tiny </dev/null >/dev/null 2>&1
  check "[$variant] and verifies" [ $? -eq 0 ]
done

models=$work/models-link
outside=$work/outside
mkdir -p "$models/tiny" "$outside"
printf 'victim partial\n' >"$outside/tiny.gguf.partial"
printf '{"victim": true}\n' >"$outside/tiny.gguf.partial.json"
printf 'keep\n' >"$outside/keep.txt"
ln -s "$outside" "$models/tiny/.llorch"
before=$(fingerprint "$outside")
pool --models-dir "$models" models download tiny </dev/null >/dev/null 2>&1
check "a symlinked .llorch: nothing outside the models dir is created, changed or removed" \
  [ "$(fingerprint "$outside")" = "$before" ]
check "and nothing is installed as downloaded through it" \
  [ ! -e "$outside/tiny.gguf.manifest.json" ]

models=$work/models-dirlink
outside=$work/outside-dir
mkdir -p "$models" "$outside"
ln -s "$outside" "$models/tiny"
before=$(fingerprint "$outside")
pool --models-dir "$models" models download tiny </dev/null >/dev/null 2>&1
check "a symlinked model dir: the download is refused" [ $? -ne 0 ]
check "and nothing is created in its target" [ "$(fingerprint "$outside")" = "$before" ]

echo
if [ "$failures" -eq 0 ]; then echo "all checks held"; exit 0; fi
echo "$failures checks failed"
exit 1
