#!/usr/bin/env bash
# Benchmark for `mleng diagnose`'s TensorBoard reader: writes a ~100 MB event file with 16
# scalar tags per step (PyTorch SummaryWriter layout, ~1.9M scalars) and reports MiB/s for
# reading it into memory, parsing it (TFRecord CRCs + protobuf), and the whole pipeline
# (discovery + read + all detectors). Usage: scripts/bench-diagnose.sh [MB] [FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
MB="${1:-100}"
FILE="${2:-${TMPDIR:-/tmp}/mleng-bench/events.out.tfevents.bench}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release -q -p mleng_runs --example bench_tb
"$CARGO_TARGET_DIR/release/examples/bench_tb" "$FILE" "$MB"
if command -v dd >/dev/null; then
  echo "disk (O_DIRECT, no page cache):"
  dd if="$FILE" of=/dev/null bs=4M iflag=direct 2>&1 | tail -1 || true
fi
