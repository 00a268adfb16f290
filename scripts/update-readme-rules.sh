#!/usr/bin/env bash
# Regenerates the rule table in README.md (between the rules:start/end markers) from the registry.
set -euo pipefail
cd "$(dirname "$0")/.."
table=$(cargo run --quiet -p mleng -- rules --format markdown)
python3 - "$table" <<'PY'
import sys, re
table = sys.argv[1] + "\n"
text = open("README.md").read()
start, end = "<!-- rules:start -->\n", "<!-- rules:end -->"
i, j = text.index(start) + len(start), text.index(end)
open("README.md", "w").write(text[:i] + table + text[j:])
PY
