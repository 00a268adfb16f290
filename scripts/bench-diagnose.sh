#!/usr/bin/env bash
# Benchmark for `mleng diagnose`'s TensorBoard reader. Writes a ~100 MB event file with 16
# scalar tags per step (PyTorch SummaryWriter layout, ~1.9M scalars), then reports:
#   warm: the file in the page cache (best of 5): parse from memory, read + parse, and the
#         whole pipeline (discovery + read + all detectors);
#   cold: the file evicted from the page cache before each run (median of ROUNDS): the
#         disk itself (`dd`, sequential 4 MiB reads), read + parse, and `mleng diagnose`.
# Usage: scripts/bench-diagnose.sh [MB] [FILE] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
MB="${1:-100}"
FILE="${2:-${TMPDIR:-/tmp}/mleng-bench/events.out.tfevents.bench}"
ROUNDS="${3:-7}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p mleng_runs --example bench_tb
cargo build --release -q -p mleng
BENCH="$CARGO_TARGET_DIR/release/examples/bench_tb"
MLENG="$CARGO_TARGET_DIR/release/mleng"

echo "== warm (page cache), $(nproc) cores"
"$BENCH" "$FILE" "$MB"

# Evicting one file's pages (posix_fadvise DONTNEED through GNU dd) needs no root and
# leaves the rest of the page cache alone.
evict() { dd if="$FILE" iflag=nocache count=0 status=none; }
if ! command -v dd >/dev/null || ! evict 2>/dev/null; then
  echo "cold: skipped (needs GNU dd with iflag=nocache)"
  exit 0
fi
seconds() { # runs "$@" once, prints its wall time in seconds
  local t0 t1
  t0=$(date +%s%N)
  "$@" >/dev/null 2>&1
  t1=$(date +%s%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.4f\n", (b - a) / 1e9 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
size=$(stat -c %s "$FILE")
dd_t=(); rp_t=(); dg_t=()
for _ in $(seq "$ROUNDS"); do
  evict; dd_t+=("$(seconds dd if="$FILE" of=/dev/null bs=4M)")
  evict; rp_t+=("$(seconds "$BENCH" "$FILE" "$MB" --once)")
  evict; dg_t+=("$(seconds "$MLENG" diagnose "$FILE")")
done
echo "== cold (file evicted before each run), median of $ROUNDS, whole process each"
for row in "disk (dd bs=4M):dd_t" "read + parse (bench_tb --once):rp_t" "mleng diagnose (end to end):dg_t"; do
  label="${row%%:*}"; var="${row##*:}[@]"
  med=$(printf '%s\n' "${!var}" | median)
  all=$(printf '%s ' "${!var}")
  awk -v l="$label" -v t="$med" -v s="$size" -v all="$all" \
    'BEGIN { printf "%-34s %.3f s = %5.0f MiB/s   (runs: %s)\n", l, t, s / 1048576 / t, all }'
done
