#!/usr/bin/env bash
# Formats our C++ sources (every *.h and *.cc file git tracks or would track: build/ is ignored)
# with clang-format and the repo's .clang-format. The clang-format is Debian 12's (14): another
# version may format the same code differently.
# Usage: scripts/format.sh          formats the files in place
#        scripts/format.sh --check  changes nothing; lists the files that are not formatted and
#                                   exits 1 if there are any
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "" | --check) ;;
  *) echo "usage: scripts/format.sh [--check]" >&2; exit 2 ;;
esac
scripts/deps.sh

files=()
while IFS= read -r -d '' file; do
  [ -f "$file" ] && files+=("$file")  # a tracked file deleted in the work tree is listed too
done < <(git ls-files -z --cached --others --exclude-standard -- '*.h' '*.cc')

if [ "${1:-}" != --check ]; then
  clang-format -i --style=file "${files[@]}"
  exit 0
fi
if report=$(clang-format --style=file --dry-run --Werror --ferror-limit=1 "${files[@]}" 2>&1); then
  exit 0
fi
unformatted=$(grep -o '^[^:]*:[0-9]*:[0-9]*: error: code should be clang-formatted' <<<"$report" |
              cut -d: -f1 | sort -u || true)
if [ -z "$unformatted" ]; then  # clang-format itself failed: say why
  echo "$report" >&2
  exit 1
fi
echo "$unformatted"
echo "not formatted: $(wc -l <<<"$unformatted") file(s) above; scripts/format.sh formats them" >&2
exit 1
