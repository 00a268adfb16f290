#!/usr/bin/env bash
# End-to-end test of `mleng mcp` with the official MCP Python SDK as the client: builds the
# binary (debug, unless MLENG_BIN names one), makes its own virtual environment with the pinned
# SDK and pytest, and runs scripts/mcp_e2e/test_mcp.py. Needs python3 (3.10+) and PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${MCP_VENV:-target/mcp-venv}"
if [ -z "${MLENG_BIN:-}" ]; then
  cargo build --locked -p mleng
  export MLENG_BIN="$PWD/target/debug/mleng"
fi
if [ ! -x "$VENV/bin/pytest" ] || ! "$VENV/bin/python" -c "import mcp" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r scripts/mcp_e2e/requirements.txt
fi
exec "$VENV/bin/pytest" -q -p no:cacheprovider scripts/mcp_e2e "$@"
