#!/usr/bin/env bash
# Tests .pre-commit-hooks.yaml with the real `pre-commit` tool, as a user's repository uses it:
#   1. pre-commit in a fresh venv (PRE_COMMIT_HOME in the temporary folder, so nothing is shared
#      with the user's own cache);
#   2. the hook repository: pre-commit clones `repo:` at `rev:`, so it only sees commits. By
#      default the script snapshots this checkout's working tree (tracked and untracked files
#      that git does not ignore) into a temporary git repository and commits it there, so
#      uncommitted changes are tested too; `--head` uses the checkout itself at its HEAD commit;
#   3. a temporary user repository with [tool.mleng] in its pyproject.toml (fail-on = "error",
#      exclude = ["legacy/**"]), a file with an error finding, a clean file and an excluded
#      file with a finding, and a .pre-commit-config.yaml naming the hook repository and rev;
#   4. `pre-commit run --all-files` must fail on the bad file only (the excluded one is not
#      reported: the configuration is respected), pass once the file is fixed, and an installed
#      hook must stop a `git commit` of a bad file;
#   5. the mleng-fix hook, when the installed `mleng review --help` lists `--fix` (skipped with a
#      message otherwise): it must change the bad file and a second run must pass.
# Exits non-zero at the first check that fails; the temporary folder is always removed.
#
# Usage: scripts/test-pre-commit.sh [--head]
#   MATURIN_PEP517_ARGS="--profile dev" scripts/test-pre-commit.sh   # quicker: a dev-profile hook
# The hook environment's build reuses this checkout's compiled dependencies through
# CARGO_TARGET_DIR (default: ./target); only the workspace's own crates compile again.
set -euo pipefail
cd "$(dirname "$0")/.."
CHECKOUT="$PWD"
USE_HEAD=0
case "${1:-}" in
  "") ;;
  --head) USE_HEAD=1 ;;
  *) echo "usage: $0 [--head]" >&2; exit 2 ;;
esac
PYTHON="${PYTHON:-python3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CHECKOUT/target}"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/mleng-pre-commit.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
export PRE_COMMIT_HOME="$TMP/pre-commit-home"
# Commits in the temporary repositories, whoever runs this:
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.invalid
export GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.invalid
export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1

fail() {
  echo "test-pre-commit: FAIL: $*" >&2
  exit 1
}
step() { echo "== $*"; }

step "pre-commit in a venv"
"$PYTHON" -m venv "$TMP/venv"
"$TMP/venv/bin/python" -m pip install --quiet --disable-pip-version-check pre-commit
PRE_COMMIT="$TMP/venv/bin/pre-commit"
"$PRE_COMMIT" --version

if [ "$USE_HEAD" = 1 ]; then
  HOOK_REPO="$CHECKOUT"
  HOOK_REV="$(git -C "$CHECKOUT" rev-parse HEAD)"
  step "hook repository: $HOOK_REPO at HEAD $HOOK_REV"
else
  HOOK_REPO="$TMP/hook-repo"
  step "hook repository: a snapshot of the working tree in $HOOK_REPO"
  mkdir -p "$HOOK_REPO"
  git -C "$CHECKOUT" ls-files -z --cached --others --exclude-standard |
    (cd "$CHECKOUT" && xargs -0 tar -cf - --ignore-failed-read 2>/dev/null) |
    tar -xf - -C "$HOOK_REPO"
  git -C "$HOOK_REPO" init --quiet
  git -C "$HOOK_REPO" add -A
  git -C "$HOOK_REPO" commit --quiet -m "snapshot of $CHECKOUT"
  HOOK_REV="$(git -C "$HOOK_REPO" rev-parse HEAD)"
fi
[ -f "$HOOK_REPO/.pre-commit-hooks.yaml" ] || fail "no .pre-commit-hooks.yaml in $HOOK_REPO"

REPO="$TMP/user-repo"
mkdir -p "$REPO/legacy"
cd "$REPO"
git init --quiet
cat >pyproject.toml <<'TOML'
[project]
name = "demo"
version = "0.0.0"

[tool.mleng]
fail-on = "error"
exclude = ["legacy/**"]
TOML
cat >bad.py <<'PY'
import torch


def freeze(model: torch.nn.Module) -> None:
    for p in model.parameters():
        p.require_grad = False
PY
sed 's/require_grad/requires_grad/' bad.py >good.py
cp bad.py legacy/old.py
write_config() { # $1: file, then hook ids
  local file="$1"
  shift
  {
    echo "repos:"
    echo "  - repo: $HOOK_REPO"
    echo "    rev: $HOOK_REV"
    echo "    hooks:"
    for id in "$@"; do echo "      - id: $id"; done
  } >"$file"
}
write_config .pre-commit-config.yaml mleng-review
git add -A
git commit --quiet --no-verify -m "demo project"

step "pre-commit run --all-files (installs the hook: builds mleng)"
set +e
OUT="$("$PRE_COMMIT" run --all-files 2>&1)"
RC=$?
set -e
echo "$OUT"
[ "$RC" -eq 1 ] || fail "pre-commit exited $RC on a file with an error finding, expected 1"
grep -q 'bad.py:6:9: ARC002' <<<"$OUT" || fail "the hook did not report ARC002 in bad.py"
grep -q 'good.py' <<<"$OUT" && fail "the hook reported the clean file good.py"
grep -q 'legacy/old.py' <<<"$OUT" && fail "the hook reported legacy/old.py, excluded by [tool.mleng]"

MLENG="$(find "$PRE_COMMIT_HOME" -path '*/bin/mleng' -type f | head -n 1)"
[ -n "$MLENG" ] || fail "no mleng executable in the hook environment"
echo "hook environment: $("$MLENG" --version)"

step "the bad file fixed: pre-commit passes"
sed -i 's/require_grad/requires_grad/' bad.py
git add bad.py
OUT="$("$PRE_COMMIT" run --all-files 2>&1)" || {
  echo "$OUT"
  fail "pre-commit failed on fixed files"
}
echo "$OUT"

step "installed as a git hook, a commit of a bad file is stopped"
"$PRE_COMMIT" install >/dev/null
cp legacy/old.py model.py
git add model.py
if git commit --quiet -m "add a bad file" >"$TMP/commit.log" 2>&1; then
  cat "$TMP/commit.log"
  fail "the commit of model.py (ARC002) went through"
fi
grep -q 'model.py:6:9: ARC002' "$TMP/commit.log" || {
  cat "$TMP/commit.log"
  fail "the stopped commit does not name model.py's finding"
}
echo "commit stopped on model.py:6:9 ARC002"
git rm --quiet --cached model.py
rm model.py

step "mleng-fix"
if "$MLENG" review --help | grep -q -- '--fix'; then
  cp legacy/old.py bad.py
  git add bad.py
  write_config "$TMP/fix-config.yaml" mleng-fix
  set +e
  OUT="$("$PRE_COMMIT" run --config "$TMP/fix-config.yaml" --all-files 2>&1)"
  RC=$?
  set -e
  echo "$OUT"
  [ "$RC" -eq 1 ] || fail "mleng-fix exited $RC on a fixable file, expected 1 (files changed)"
  cmp -s bad.py legacy/old.py && fail "mleng-fix did not change bad.py"
  git add bad.py
  OUT="$("$PRE_COMMIT" run --config "$TMP/fix-config.yaml" --all-files 2>&1)" || {
    echo "$OUT"
    fail "a second mleng-fix run still changed files"
  }
  echo "fixed: $(grep -c requires_grad bad.py) line(s) now use requires_grad"
else
  echo "SKIP: this mleng has no \`review --fix\` yet; the mleng-fix hook is declared but not tested"
fi

echo "test-pre-commit: OK (pre-commit $("$PRE_COMMIT" --version | awk '{print $2}'), hook rev ${HOOK_REV:0:9})"
