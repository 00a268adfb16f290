#!/usr/bin/env bash
# End-to-end tests of `mleng server` with a real LSP client (pytest-lsp, which drives the
# server through pygls): builds the binary, makes its own virtual environment (outside the
# repository, reused between runs), installs pytest-lsp and runs crates/mleng_lsp/e2e.
#
# Usage: scripts/test-lsp.sh [PYTEST ARGS...]
#   MLENG_BIN=path/to/mleng  test that binary instead of building target/debug/mleng
#   LSP_VENV=dir             where the virtual environment lives (default target/lsp-venv)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${LSP_VENV:-target/lsp-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pytest-lsp==1.0.1"
fi
if [ -z "${MLENG_BIN:-}" ]; then
  cargo build --quiet -p mleng
  export MLENG_BIN="$PWD/target/debug/mleng"
fi
cd crates/mleng_lsp/e2e
exec "../../../$venv/bin/python" -m pytest -q "$@"
