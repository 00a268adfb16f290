#!/usr/bin/env bash
# Reviews whole public repositories, as a user would (`mleng review .` at each root), from the
# git mirrors that the tool library's `fetch` brings (/work/.mirror/<owner>+<name>/repo), and
# prints the findings per repository and per rule. Nothing fetched is committed: the trees are
# exported to a scratch folder.
#
# Usage: scripts/review-repos.sh [MLENG] [OUT]      (defaults: target/release/mleng, target/repos)
# Env:   MIRRORS (default /work/.mirror), REPOS="owner+name ..." (default: every mirror)
set -euo pipefail
cd "$(dirname "$0")/.."
mleng=$(realpath "${1:-target/release/mleng}")
out=$(realpath -m "${2:-target/repos}")
mirrors=${MIRRORS:-/work/.mirror}
mkdir -p "$out"
repos=${REPOS:-$(ls "$mirrors")}
total_lines=0
for repo in $repos; do
  git_dir="$mirrors/$repo/repo"
  [ -d "$git_dir/.git" ] && git_dir="$git_dir/.git"  # snapshots that are clones with a work tree
  [ -d "$git_dir" ] || { echo "skip $repo: no mirror" >&2; continue; }
  git --git-dir="$git_dir" rev-parse -q --verify HEAD >/dev/null 2>&1 \
    || { echo "skip $repo: not a usable git directory" >&2; continue; }
  tree="$out/trees/$repo"
  if [ ! -d "$tree" ]; then
    mkdir -p "$tree"
    # Code and requirement files only; a snapshot lacks its largest files, so one missing blob
    # must not lose the rest: fall back to reading the files one by one.
    specs=('*.py' '*.ipynb' '*requirements*.txt' '*.toml' '*.cfg' '*.yml' '*.yaml' '.gitignore')
    if ! git --git-dir="$git_dir" archive HEAD -- "${specs[@]}" 2>/dev/null | tar -x -C "$tree" 2>/dev/null; then
      git --git-dir="$git_dir" ls-tree -r --name-only HEAD \
        | grep -E '\.(py|ipynb|toml|cfg|yml|yaml)$|requirements[^/]*\.txt$' | while IFS= read -r f; do
        mkdir -p "$tree/$(dirname "$f")"
        git --git-dir="$git_dir" cat-file -p "HEAD:$f" > "$tree/$f" 2>/dev/null || rm -f "$tree/$f"
      done
    fi
  fi
  lines=$(find "$tree" \( -name '*.py' -o -name '*.ipynb' \) -print0 | xargs -0 cat 2>/dev/null | wc -l)
  total_lines=$((total_lines + lines))
  (cd "$tree" && "$mleng" review . --format concise > "$out/$repo.txt" 2>&1 || true)
  printf '%-45s %7d lines  %s\n' "$repo" "$lines" "$(tail -n 1 "$out/$repo.txt")"
done
echo "total lines: $total_lines"
echo "findings per rule:"
cat "$out"/*.txt | grep -oE ' (ARC|TRN|EXP|CV|SEC|PRF|INP)[0-9]+ \[[a-z]+\]' | sort | uniq -c | sort -rn
