#!/usr/bin/env bash
# Benchmark `mleng inspect`: every ONNX fixture end to end, and a 1 GiB safetensors file
# (made here, 16 float32 tensors of 64 MiB) read through a memory map with full per-tensor
# statistics. Prints wall time, MB/s and peak RSS.
#
#   scripts/bench-inspect.sh [path/to/mleng]
#
# Needs: bash, python3 (only to write the 8-byte header length), GNU time (optional).
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
mleng="${1:-${CARGO_TARGET_DIR:-$root/target}/release/mleng}"
fixtures="$root/../shared/fixtures"
big="${TMPDIR:-/tmp}/mleng-bench-1g.safetensors"

if [[ ! -x "$mleng" ]]; then
    echo "build first: cargo build --release -p mleng (or pass the binary's path)" >&2
    exit 2
fi

timed() {
    # Wall seconds and max RSS (KiB) of a command, output discarded.
    if command -v /usr/bin/time >/dev/null; then
        /usr/bin/time -f "%e %M" "$@" >/dev/null 2>"$tmp_time" || true
        tail -1 "$tmp_time"
    else
        local s e
        s=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || true
        e=$(date +%s.%N)
        echo "$(echo "$e - $s" | bc) ?"
    fi
}
tmp_time="$(mktemp)"
trap 'rm -f "$tmp_time"' EXIT

echo "== ONNX fixtures (each file end to end, process start included: decode, shapes, FLOPs, findings, text report; mean of 20 runs)"
for f in "$fixtures"/onnx/*.onnx; do
    s=$(date +%s%N)
    for _ in $(seq 20); do "$mleng" inspect "$f" >/dev/null; done
    e=$(date +%s%N)
    read -r _ rss <<<"$(timed "$mleng" inspect "$f")"
    printf "  %-48s %7.2f ms  %6s KiB RSS\n" "$(basename "$f")" "$(echo "($e - $s) / 20000000" | bc -l)" "$rss"
done

if [[ ! -f "$big" ]]; then
    echo "== writing $big (1 GiB)"
    n=16
    per=$((16 * 1024 * 1024)) # float32 elements per tensor = 64 MiB
    header="{"
    for ((i = 0; i < n; i++)); do
        b=$((i * per * 4))
        e=$(((i + 1) * per * 4))
        [[ $i -gt 0 ]] && header+=","
        header+="\"layers.$i.weight\":{\"dtype\":\"F32\",\"shape\":[4096,4096],\"data_offsets\":[$b,$e]}"
    done
    header+="}"
    python3 -c 'import struct,sys; sys.stdout.buffer.write(struct.pack("<Q", int(sys.argv[1])))' "${#header}" >"$big"
    printf "%s" "$header" >>"$big"
    # Values: uniform(-0.05, 0.05)-ish float32 built from random bytes would contain NaNs;
    # a repeated realistic block keeps the value mix of a trained layer instead.
    python3 - "$big" "$((n * per))" <<'EOF'
import random, struct, sys
path, count = sys.argv[1], int(sys.argv[2])
random.seed(0)
block = struct.pack("<%df" % 65536, *[random.gauss(0.0, 0.02) for _ in range(65536)])
with open(path, "ab") as f:
    for _ in range(count // 65536):
        f.write(block)
EOF
fi
size=$(stat -c %s "$big")
echo "== safetensors, $((size / 1024 / 1024)) MiB"
"$mleng" inspect "$big" >/dev/null # warm the page cache
for run in 1 2 3; do
    read -r secs rss <<<"$(timed "$mleng" inspect "$big")"
    mbs=$(python3 -c "print(f'{$size / 1e6 / max($secs, 1e-3):.0f}')")
    echo "  run $run: ${secs}s  ${mbs} MB/s  peak RSS ${rss} KiB (file is mapped, not copied)"
done
