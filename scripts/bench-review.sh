#!/usr/bin/env bash
# Times `mleng review` on the real corpus (2.2 million lines of ML code from PyPI releases) next to
# ruff on the same files in the same run, and prints the ratios. Also checks that mleng reported
# no internal error (INP900) and exited 0 on the whole corpus.
#
# Usage: scripts/bench-review.sh [CORPUS_DIR]   (default target/corpus; fetched if missing)
# Needs: cargo, python3 with pip (ruff is installed into target/bench-venv).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${1:-target/corpus}
runs=${RUNS:-3}
if [ ! -d "$corpus/timm" ]; then
  ../shared/corpus/fetch-corpus.sh "$corpus"
fi
# The `dist` profile (fat LTO, one codegen unit) is what the wheels ship; `release` builds faster
# for development and runs about a quarter slower.
profile=${PROFILE:-dist}
cargo build --profile "$profile" -p mleng --quiet
cargo build --profile "$profile" -p mleng_python --example parse_only --quiet
if [ ! -x target/bench-venv/bin/ruff ]; then
  python3 -m venv target/bench-venv
  target/bench-venv/bin/pip install --quiet "ruff==0.17.6"
fi
mleng=target/$profile/mleng
ruff=target/bench-venv/bin/ruff
out=target/bench-out
mkdir -p "$out"

files=$(find "$corpus" \( -name '*.py' -o -name '*.ipynb' \) | wc -l)
lines=$(find "$corpus" \( -name '*.py' -o -name '*.ipynb' \) -print0 | xargs -0 cat | wc -l)
echo "corpus: $files files, $lines lines, $(nproc) cores, profile $profile, load $(cut -d' ' -f1 /proc/loadavg)"

# Median wall time of $runs runs of a command whose output goes to a file (all print findings).
median() {
  local name=$1; shift
  local times=()
  for _ in $(seq "$runs"); do
    local start end
    start=$(date +%s.%N)
    "$@" > "$out/$name.txt" 2>&1 || true
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc)")
  done
  printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (runs + 1) / 2 ))p"
}

t_mleng=$(median mleng "$mleng" review "$corpus" --format concise)
t_parse=$(median parse "target/$profile/examples/parse_only" "$corpus")
t_ruff=$(median ruff "$ruff" check --no-cache --exit-zero "$corpus")
t_ruff_all=$(median ruff-all "$ruff" check --no-cache --exit-zero --select ALL "$corpus")

status=0; "$mleng" review "$corpus" --format concise > "$out/mleng-check.txt" || status=$?
internal=$(grep -c 'INP900' "$out/mleng-check.txt" || true)
echo "mleng exit status on the corpus: $status; internal errors (INP900): $internal"
tail -n 1 "$out/mleng-check.txt"
printf '%-32s %8.2f s\n' "mleng review (all rules)" "$t_mleng"
printf '%-32s %8.2f s   mleng/parse = %.2f\n' "parse only (same parser, same files)" "$t_parse" "$(echo "$t_mleng / $t_parse" | bc -l)"
printf '%-32s %8.2f s   mleng/ruff = %.2f\n' "ruff check (default rules)" "$t_ruff" "$(echo "$t_mleng / $t_ruff" | bc -l)"
printf '%-32s %8.2f s   mleng/ruff = %.2f\n' "ruff check --select ALL" "$t_ruff_all" "$(echo "$t_mleng / $t_ruff_all" | bc -l)"
printf 'mleng throughput: %.0f lines/s\n' "$(echo "$lines / $t_mleng" | bc -l)"
