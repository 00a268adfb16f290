#!/usr/bin/env bash
# Applies `mleng review --fix --unsafe-fixes --select ALL` to copies of real code and checks
# the promises of --fix: every fixed file still parses (mleng refuses to write one that does
# not, and says so), and a second run finds nothing left to fix.
#
# Usage: scripts/fix-repos.sh [TREES...]   (default: target/repos-new/trees/* and target/corpus/*)
# Needs a release build (cargo build --release). Nothing outside a temporary folder is changed.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${MLENG:-target/release/mleng}
[ -x "$bin" ] || { echo "build first: cargo build --release" >&2; exit 2; }
if [ $# -eq 0 ]; then
  set -- target/repos-new/trees/* target/corpus/*
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repos=0 fixed_files=0 fixes=0 refused=0 again=0 unparsable=0
declare -A by_rule=()
for tree in "$@"; do
  [ -d "$tree" ] || continue
  repos=$((repos + 1))
  copy="$work/$(basename "$tree")"
  cp -r "$tree" "$copy"
  before=$("$bin" review --select INP002,INP003 --format concise "$copy" 2>/dev/null | grep -cE "INP00[23]" || true)
  out=$("$bin" review --fix --unsafe-fixes --select ALL --format json "$copy" 2>&1 >/dev/null || true)
  n=$(grep -o 'fixed [0-9]* finding' <<<"$out" | grep -o '[0-9]*' || echo 0)
  f=$(grep -o 'in [0-9]* file' <<<"$out" | grep -o '[0-9]*' || echo 0)
  r=$(grep -c 'would leave code that does not parse' <<<"$out" || true)
  fixes=$((fixes + n)) fixed_files=$((fixed_files + f)) refused=$((refused + r))
  after=$("$bin" review --select INP002,INP003 --format concise "$copy" 2>/dev/null | grep -cE "INP00[23]" || true)
  if [ "$after" -gt "$before" ]; then
    unparsable=$((unparsable + after - before))
    echo "UNPARSABLE after fixing: $tree ($before -> $after syntax-error findings)" >&2
  fi
  second=$("$bin" review --diff --unsafe-fixes --select ALL "$copy" 2>/dev/null | grep -c '^+++ ' || true)
  if [ "$second" -gt 0 ]; then
    again=$((again + second))
    echo "FIXES AGAIN on a second run: $tree ($second files)" >&2
  fi
  rm -rf "$copy"
done
echo "trees: $repos; fixes applied: $fixes in $fixed_files files; refused (would not parse): $refused; files unparsable after fixing: $unparsable; files changed by a second run: $again"
