#!/usr/bin/env bash
# Prints the Debian packages that hold the shared libraries the given binaries load, one a line,
# sorted: what a runtime image must install for them (the container file's build stage runs it).
# Usage: runtime-packages.sh BINARY...
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 BINARY..." >&2; exit 2; }
libs=()
for binary in "$@"; do
  if ! found=$(ldd "$binary"); then
    echo "$0: cannot read the libraries of $binary" >&2
    exit 1
  fi
  if grep -q "not found" <<<"$found"; then
    echo "$0: $binary needs a library this system lacks:" >&2
    grep "not found" <<<"$found" >&2
    exit 1
  fi
  # "libfoo.so.1 => /lib/x86_64-linux-gnu/libfoo.so.1 (0x...)"
  while read -r lib; do libs+=("$lib"); done < <(awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$found")
done
# dpkg knows each file under one of /lib and /usr/lib (merged /usr), as linked or as resolved.
candidates=()
for lib in "${libs[@]}"; do
  for path in "$lib" "$(readlink -f "$lib")"; do
    case "$path" in
      /usr/*) candidates+=("$path" "${path#/usr}") ;;
      *) candidates+=("$path" "/usr$path") ;;
    esac
  done
done
owners=$(dpkg -S "${candidates[@]}" 2>/dev/null || true)  # "pkg:arch: /path" per file found
for lib in "${libs[@]}"; do
  if ! grep -q -- "/$(basename "$lib")\$" <<<"$owners"; then
    echo "$0: no package holds $lib" >&2
    exit 1
  fi
done
sed 's/: \/.*//; s/, /\n/g' <<<"$owners" | sed 's/:.*//' | sort -u
