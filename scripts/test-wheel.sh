#!/usr/bin/env bash
# Tests `pip install` of this checkout in a fresh virtual environment, as a user would:
#   1. a new venv in a temporary folder;
#   2. `pip install <checkout>` (maturin builds the `mleng` binary, pyproject.toml), or with
#      --wheel: `maturin build` a wheel into the temporary folder and `pip install` that file;
#   3. the installed `mleng` (the venv's bin/, not cargo's) must answer `--version` with the
#      crate version, list the rules, and review a file with a finding and one without, with
#      the documented exit codes (0 advisory, 1 when --fail-on trips, 2 on a usage error).
# Exits non-zero at the first check that fails; the temporary folder is always removed.
#
# Usage: scripts/test-wheel.sh [--wheel] [--profile PROFILE]
#   PYTHON=python3.12 scripts/test-wheel.sh   # another interpreter
# The build reuses this checkout's target/ (or $CARGO_TARGET_DIR), so after
# `cargo build --release -p mleng` it only links the binary again.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT="$PWD"
MODE=pip
PROFILE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) MODE=wheel ;;
    --profile) PROFILE="$2"; shift ;;
    *) echo "usage: $0 [--wheel] [--profile PROFILE]" >&2; exit 2 ;;
  esac
  shift
done
PYTHON="${PYTHON:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CHECKOUT/target}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/mleng-wheel.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

fail() {
  echo "test-wheel: FAIL: $*" >&2
  exit 1
}

START=$SECONDS
step() { echo "== [$((SECONDS - START)) s] $*"; }

step "venv ($("$PYTHON" --version 2>&1)) in $TMP/venv"
"$PYTHON" -m venv "$TMP/venv"
VPY="$TMP/venv/bin/python"
"$VPY" -m pip install --quiet --disable-pip-version-check --upgrade pip

if [ "$MODE" = wheel ]; then
  step "maturin build (wheel) ${PROFILE:+--profile $PROFILE}"
  "$VPY" -m pip install --quiet --disable-pip-version-check "maturin>=1.5,<2"
  "$TMP/venv/bin/maturin" build --locked ${PROFILE:+--profile "$PROFILE"} \
    --manifest-path "$CHECKOUT/crates/mleng/Cargo.toml" --out "$TMP/dist"
  WHEELS=("$TMP"/dist/mleng-*.whl)
  [ -f "${WHEELS[0]}" ] || fail "maturin wrote no wheel into $TMP/dist"
  step "pip install ${WHEELS[0]##*/}"
  "$VPY" -m pip install --quiet --disable-pip-version-check "${WHEELS[0]}"
else
  step "pip install $CHECKOUT ${PROFILE:+(profile $PROFILE)}"
  # maturin's PEP 517 backend takes extra `maturin build` arguments from MATURIN_PEP517_ARGS.
  MATURIN_PEP517_ARGS="${PROFILE:+--profile $PROFILE}" \
    "$VPY" -m pip install --quiet --disable-pip-version-check "$CHECKOUT"
fi

MLENG="$TMP/venv/bin/mleng"
[ -x "$MLENG" ] || fail "the package put no mleng executable in $TMP/venv/bin"
# On PATH, as an activated venv (or a user's pip install) puts it:
export PATH="$TMP/venv/bin:$PATH"
[ "$(command -v mleng)" = "$MLENG" ] || fail "mleng on PATH is $(command -v mleng), not the venv's"
SHOW="$("$VPY" -m pip show --files mleng)"
grep -Eq '(^|/)bin/mleng$' <<<"$SHOW" || fail "pip does not list bin/mleng as the package's file"

VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "$CHECKOUT/Cargo.toml" | head -n 1)"
step "mleng --version"
OUT="$(mleng --version)" || fail "mleng --version exited $?"
echo "$OUT"
case "$OUT" in
  "mleng $VERSION" | "mleng $VERSION ("*")") ;;
  *) fail "--version printed '$OUT', expected 'mleng $VERSION' (and the commit)" ;;
esac
grep -qx "Version: $VERSION" <<<"$SHOW" || fail "the wheel's version is not $VERSION"

step "mleng rules"
OUT="$(mleng rules)" || fail "mleng rules exited $?"
for code in TRN002 ARC002 CV001 SEC001; do
  grep -q "$code" <<<"$OUT" || fail "mleng rules does not list $code"
done
echo "$(grep -c '^[A-Z]\{2,3\}[0-9]\{3\}' <<<"$OUT") rules listed"

step "mleng review"
PROJECT="$TMP/project"
mkdir -p "$PROJECT"
cat >"$PROJECT/bad.py" <<'PY'
import torch


def freeze(model: torch.nn.Module) -> None:
    for p in model.parameters():
        p.require_grad = False
PY
sed 's/require_grad/requires_grad/' "$PROJECT/bad.py" >"$PROJECT/good.py"
cd "$PROJECT"
set +e
OUT="$(mleng review bad.py --format concise --no-color)"; RC=$?
set -e
echo "$OUT"
[ "$RC" -eq 0 ] || fail "advisory review of bad.py exited $RC, expected 0"
grep -q '^bad.py:6:9: ARC002 \[error\]' <<<"$OUT" || fail "no ARC002 finding at bad.py:6:9"
set +e
mleng review bad.py --fail-on error --format concise --no-color >/dev/null; RC=$?
set -e
[ "$RC" -eq 1 ] || fail "--fail-on error on bad.py exited $RC, expected 1"
OUT="$(mleng review good.py --fail-on info --format json)" || fail "good.py with --fail-on info exited $?"
"$VPY" - "$OUT" <<'PY' || fail "the JSON review of good.py is not empty"
import json, sys
data = json.loads(sys.argv[1])
findings = data["findings"] if isinstance(data, dict) else data
sys.exit(1 if findings else 0)
PY
set +e
mleng review does-not-exist.py >/dev/null 2>&1; RC=$?
set -e
[ "$RC" -eq 2 ] || fail "a missing path exited $RC, expected 2"
cd "$CHECKOUT"
OUT="$(mleng review examples/flowers --format concise --no-color)" || fail "review of examples/flowers exited $?"
grep -q 'TRN002' <<<"$OUT" || fail "examples/flowers: no TRN002 finding"
tail -n 1 <<<"$OUT"

echo "test-wheel: OK ($MODE install, $(mleng --version))"
