#!/usr/bin/env bash
# End-to-end test of `mleng server` in a real editor: headless Neovim runs the README's
# Neovim snippet (the 0.7 one on Neovim 0.7, the 0.8+ one on later versions) on a small
# training script with known findings, and checks through Neovim's own LSP client the
# diagnostics (code, severity, message, columns), hover, code actions (a quick fix and "Fix
# all" applied, then the diagnostics follow the edits), save, and a clean shutdown.
# The checks are in scripts/test-nvim.lua. Notebooks are not tested: Neovim opens an
# .ipynb as JSON text, not as a notebook.
#
# Usage: scripts/test-nvim.sh
#   MLENG_BIN=path/to/mleng  test that binary instead of building target/debug/mleng
#   NVIM=path/to/nvim        that Neovim (default: nvim on PATH)
# Without Neovim it runs `apt-get install neovim` when root with apt-get (Debian bookworm:
# Neovim 0.7.2), else prints SKIPPED and exits 0. Exits 1 when a check fails.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
nvim=${NVIM:-nvim}

install_neovim() {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends neovim >/dev/null 2>&1 && return 0
  apt-get update -qq && apt-get install -y -qq --no-install-recommends neovim >/dev/null
}
if ! command -v "$nvim" >/dev/null 2>&1; then
  if [ "$nvim" = nvim ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-nvim: installing neovim with apt-get" >&2
    install_neovim || { echo "test-nvim: FAILED: apt-get could not install neovim" >&2; exit 1; }
  else
    echo "test-nvim: SKIPPED: no $nvim, and no way to install it here (needs root and apt-get)"
    exit 0
  fi
fi

if [ -z "${MLENG_BIN:-}" ]; then
  cargo build --quiet -p mleng
  MLENG_BIN="$repo/target/debug/mleng"
fi
MLENG_BIN=$(cd "$(dirname "$MLENG_BIN")" && pwd)/$(basename "$MLENG_BIN")
[ -x "$MLENG_BIN" ] || { echo "test-nvim: no executable $MLENG_BIN" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin" "$tmp/project"
# The snippet runs `mleng server` from PATH: a wrapper that records the exit status.
cat >"$tmp/bin/mleng" <<EOF
#!/bin/sh
"$MLENG_BIN" "\$@"
echo \$? >"$tmp/exit-status"
EOF
chmod +x "$tmp/bin/mleng"
cat >"$tmp/project/pyproject.toml" <<'EOF'
[project]
name = "nvim-test"
version = "0"
EOF
cat >"$tmp/project/train.py" <<'EOF'
import torch


def train(model, loader, epochs=10):
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(epochs):
        for x, y in loader:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            optimizer.step()


def load(path):
    return {"modèle 🚀": torch.load(path, weights_only=False)}


def freeze(model):
    for p in model.parameters():
        p.require_grad = False
EOF

export MLENG_README="$repo/README.md" MLENG_TEST_FILE="$tmp/project/train.py"
export MLENG_EXIT_FILE="$tmp/exit-status" PATH="$tmp/bin:$PATH"
# Keep the user's Neovim state and LSP log out of it.
export XDG_CONFIG_HOME="$tmp/config" XDG_DATA_HOME="$tmp/data" XDG_STATE_HOME="$tmp/state" \
  XDG_CACHE_HOME="$tmp/cache"
rc=0
timeout 120 "$nvim" --headless -u NONE -i NONE -n -c "luafile $repo/scripts/test-nvim.lua" </dev/null || rc=$?
if [ "$rc" != 0 ]; then
  echo "test-nvim: FAILED (exit $rc); the end of Neovim's LSP log:"
  find "$tmp/cache" "$tmp/state" -name 'lsp.log' -exec tail -n 30 {} \; 2>/dev/null || true
  exit 1
fi
echo "test-nvim: passed"
