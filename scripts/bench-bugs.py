#!/usr/bin/env python3
"""Benchmark mleng on real bug-fix commits (bench/bugs/*.jsonl).

For every case, the repository tree at the buggy commit (the fix's parent)
and at the fix commit is exported from a local bare mirror, `mleng review .
--format json` runs at the repository root (whole repository, default
configuration), and the findings are matched against the recorded bug
location:

* caught (expected rule): a finding in the case's file whose line range is
  within +-3 lines of the bug line (notebooks: in the same cell) and whose
  code is in the case's `expected` list;
* caught by another rule: not caught as above, but some warning or error is
  reported at that spot;
* false positive on the fix: on the fix commit, a finding with an expected
  code is still reported inside a changed hunk of the fix in that file.

Standard library only. Example:

    python3 scripts/bench-bugs.py --mleng /tmp/mleng-baseline --set tune
"""

import argparse
import ast
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
BUGS = os.path.join(os.path.dirname(HERE), "bench", "bugs")
SLACK = 3


def load_cases(which, bugs_dir):
    files = {"tune": ["cases.jsonl"], "holdout": ["holdout.jsonl"],
             "all": ["cases.jsonl", "holdout.jsonl"]}[which]
    cases = []
    for name in files:
        with open(os.path.join(bugs_dir, name), encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                line = line.strip()
                if line:
                    try:
                        cases.append(json.loads(line))
                    except json.JSONDecodeError as e:
                        sys.exit(f"{name}:{n}: bad JSON: {e}")
    return cases


def git_dir(mirrors, repo):
    base = os.path.join(mirrors, repo.replace("/", "+"))
    for cand in (os.path.join(base, "repo", ".git"), os.path.join(base, "repo"),
                 base + ".git", base):
        if os.path.isfile(os.path.join(cand, "HEAD")) and os.path.isdir(os.path.join(cand, "objects")):
            return cand
    return None


def git(gd, *args):
    return subprocess.run(["git", "--git-dir", gd, *args], capture_output=True,
                          text=True, errors="replace")


def has_commit(gd, commit):
    return git(gd, "cat-file", "-e", commit + "^{commit}").returncode == 0


def export(gd, commit, dest):
    """Export the tree of `commit` into `dest`; True on success.

    `git archive | tar -x` first; mirrors that lack some blobs (snapshots
    leave out files of 4 MiB and more, and LFS content) make git archive
    fail, so the fallback writes every blob that is present, one `git
    cat-file --batch` process for the whole tree, and skips the missing."""
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    os.makedirs(dest)
    arch = subprocess.Popen(["git", "--git-dir", gd, "archive", commit],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    tar = subprocess.run(["tar", "-x", "-C", dest], stdin=arch.stdout,
                         capture_output=True)
    arch.stdout.close()
    rc = arch.wait()
    if rc == 0 and tar.returncode == 0:
        return True
    shutil.rmtree(dest)
    os.makedirs(dest)
    return export_blobs(gd, commit, dest)


def export_blobs(gd, commit, dest):
    ls = subprocess.run(["git", "--git-dir", gd, "ls-tree", "-r", "-z", commit],
                        capture_output=True)
    if ls.returncode != 0:
        return False
    entries = []
    for rec in ls.stdout.split(b"\0"):
        if not rec:
            continue
        meta, path = rec.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob" and mode != b"120000":
            entries.append((sha, os.fsdecode(path)))
    root = os.path.realpath(dest)
    cat = subprocess.Popen(["git", "--git-dir", gd, "cat-file", "--batch"],
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        for sha, path in entries:
            cat.stdin.write(sha + b"\n")
            cat.stdin.flush()
            header = cat.stdout.readline().split()
            if len(header) < 3 or header[1] == b"missing":
                continue
            data = cat.stdout.read(int(header[2]))
            cat.stdout.read(1)  # the newline after the contents
            target = os.path.realpath(os.path.join(dest, path))
            if not target.startswith(root + os.sep):
                continue
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
    finally:
        cat.stdin.close()
        cat.wait()
    return True


def count_lines(root):
    """Lines of Python source (.py, and code cells of .ipynb) under root."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for fn in filenames:
            p = os.path.join(dirpath, fn)
            try:
                if fn.endswith(".py"):
                    with open(p, "rb") as f:
                        total += sum(1 for _ in f)
                elif fn.endswith(".ipynb"):
                    with open(p, encoding="utf-8", errors="replace") as f:
                        nb = json.load(f)
                    for cell in nb.get("cells", []):
                        if cell.get("cell_type") == "code":
                            src = cell.get("source", "")
                            src = "".join(src) if isinstance(src, list) else src
                            total += len(src.splitlines())
            except (OSError, ValueError, AttributeError):
                pass
    return total


class Runner:
    def __init__(self, args):
        self.args = args
        self.mleng = os.path.abspath(args.mleng)
        self.work = args.work or tempfile.mkdtemp(prefix="bench-bugs-")
        os.makedirs(self.work, exist_ok=True)
        self.cache = {}

    def review(self, repo, gd, commit):
        """Findings of `mleng review .` at the root of repo@commit.

        Returns dict(status=ok|export-failed|mleng-error, findings, lines)."""
        key = (repo, commit)
        if key in self.cache:
            return self.cache[key]
        tag = "all" if self.args.select_all else "default"
        cache_file = os.path.join(self.work, "results", repo.replace("/", "+"),
                                  f"{commit}.{tag}.json")
        if os.path.isfile(cache_file) and not self.args.no_cache:
            with open(cache_file, encoding="utf-8") as f:
                res = json.load(f)
            self.cache[key] = res
            return res
        tree = os.path.join(self.work, "trees", repo.replace("/", "+"), commit)
        res = {"status": "ok", "findings": [], "lines": 0, "error": ""}
        if not export(gd, commit, tree):
            res["status"] = "export-failed"
        else:
            res["lines"] = count_lines(tree)
            cmd = [self.mleng, "review", ".", "--format", "json", "--no-color"]
            if self.args.select_all:
                cmd += ["--select", "ALL"]
            try:
                p = subprocess.run(cmd, cwd=tree, capture_output=True, text=True,
                                   errors="replace", timeout=self.args.timeout)
                if p.returncode == 2 or p.returncode not in (0, 1):
                    res["status"] = "mleng-error"
                    res["error"] = f"exit {p.returncode}: {p.stderr.strip()[-500:]}"
                else:
                    try:
                        res["findings"] = json.loads(p.stdout or "[]")
                    except json.JSONDecodeError as e:
                        res["status"] = "mleng-error"
                        res["error"] = f"bad JSON output: {e}"
            except subprocess.TimeoutExpired:
                res["status"] = "mleng-error"
                res["error"] = f"timeout after {self.args.timeout}s"
            if not self.args.keep_trees:
                shutil.rmtree(tree, ignore_errors=True)
        os.makedirs(os.path.dirname(cache_file), exist_ok=True)
        with open(cache_file, "w", encoding="utf-8") as f:
            json.dump(res, f)
        self.cache[key] = res
        return res


def norm_path(p):
    p = p.replace("\\", "/")
    while p.startswith("./"):
        p = p[2:]
    return p


def loc(f):
    l = f.get("location") or {}
    span = l.get("span") or {}
    start = span.get("start_line") or 0
    end = span.get("end_line") or start
    return norm_path(l.get("path", "")), l.get("cell"), start, end


def at_spot(f, case):
    path, cell, start, end = loc(f)
    if path != norm_path(case["path"]):
        return False
    if "cell" in case:
        return cell == case["cell"]
    line = case["line"]
    return start - SLACK <= line <= end + SLACK


def related_at_spot(f, case):
    """One of the finding's related locations (a caller of the reported function, the loss
    an activation feeds) is at the spot: the user is pointed there too."""
    return any(at_spot(r, case) for r in f.get("related", []))


def enclosing_block(gd, case):
    """(start, end) lines of the innermost loop or function around the bug line
    in the buggy file, or None (notebooks, syntax errors, module level)."""
    if "cell" in case or not case["path"].endswith(".py"):
        return None
    src = git(gd, "show", f"{case['commit']}:{case['path']}").stdout
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return None
    best = None
    kinds = (ast.For, ast.AsyncFor, ast.While, ast.FunctionDef, ast.AsyncFunctionDef)
    for node in ast.walk(tree):
        if isinstance(node, kinds) and node.lineno <= case["line"] <= (node.end_lineno or node.lineno):
            if best is None or (node.end_lineno - node.lineno) < (best[1] - best[0]):
                best = (node.lineno, node.end_lineno)
    return best


def in_block(f, case, block):
    path, cell, start, end = loc(f)
    return (block is not None and path == norm_path(case["path"])
            and start <= block[1] and end >= block[0])


def is_loud(f):
    return f.get("severity") in ("warning", "error")


def fix_hunks(gd, case):
    """New-side line ranges (1-based, inclusive) of the fix's hunks in the file."""
    out = git(gd, "diff", "-U3", case["commit"], case["fix_commit"], "--", case["path"]).stdout
    hunks = []
    for m in re.finditer(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@", out, re.M):
        start, count = int(m.group(1)), int(m.group(2) if m.group(2) is not None else 1)
        hunks.append((start, start + max(count, 1) - 1))
    return hunks


def in_hunks(f, case, hunks):
    path, cell, start, end = loc(f)
    if path != norm_path(case["path"]):
        return False
    if path.endswith(".ipynb"):
        # hunks of a notebook's JSON cannot be mapped to cells cheaply: same cell
        return "cell" in case and cell == case["cell"]
    return any(start <= hi and end >= lo for lo, hi in hunks)


def pct(a, b):
    return f"{100.0 * a / b:.1f}%" if b else "-"


def table(title, rows):
    out = [f"### {title}", "",
           "| | cases | caught (expected rule) | caught by another rule | recall | FP on fix |",
           "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name, s in rows:
        out.append(f"| {name} | {s['cases']} | {s['caught']} | {s['other']} | "
                   f"{pct(s['caught'], s['cases'])} | {s['fp']} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mleng", required=True, help="the mleng binary to benchmark")
    ap.add_argument("--set", choices=["tune", "holdout", "all"], default="tune")
    ap.add_argument("--mirrors", default="/work/.mirror",
                    help="folder of mirrors: MIRRORS/owner+name/repo is a git directory")
    ap.add_argument("--work", help="scratch folder (default: a new temporary folder)")
    ap.add_argument("--cases-dir", default=BUGS, help="folder with cases.jsonl/holdout.jsonl")
    ap.add_argument("--select-all", action="store_true", help="review with --select ALL")
    ap.add_argument("--json", help="write per-case results and totals to this file")
    ap.add_argument("--timeout", type=int, default=900, help="seconds per mleng run")
    ap.add_argument("--keep-trees", action="store_true", help="keep exported trees")
    ap.add_argument("--no-cache", action="store_true", help="ignore cached results")
    ap.add_argument("--quiet", action="store_true", help="no per-case progress on stderr")
    args = ap.parse_args()
    if not os.access(args.mleng, os.X_OK):
        sys.exit(f"not an executable: {args.mleng}")

    cases = load_cases(args.set, args.cases_dir)
    kinds = {}
    kinds_file = os.path.join(args.cases_dir, "kinds.json")
    if os.path.isfile(kinds_file):
        with open(kinds_file, encoding="utf-8") as f:
            kinds = json.load(f)
    run = Runner(args)
    results = []
    skipped = collections.Counter()
    reviewed = {}  # (repo, commit) -> lines, loud findings (buggy commits only)
    for i, case in enumerate(cases, 1):
        r = {"id": case["id"], "repo": case["repo"], "kind": case["kind"],
             "path": case["path"], "line": case.get("line"), "status": "ok"}
        if "cell" in case:
            r["cell"] = case["cell"]
        gd = git_dir(args.mirrors, case["repo"])
        if not args.quiet:
            print(f"[{i}/{len(cases)}] {case['id']}", file=sys.stderr)
        if gd is None:
            r["status"] = "missing-mirror"
        elif not (has_commit(gd, case["commit"]) and has_commit(gd, case["fix_commit"])):
            r["status"] = "missing-commit"
        if r["status"] != "ok":
            skipped[r["status"]] += 1
            results.append(r)
            continue
        bug = run.review(case["repo"], gd, case["commit"])
        if bug["status"] != "ok":
            r["status"] = bug["status"]
            r["error"] = bug.get("error", "")
            skipped[bug["status"]] += 1
            results.append(r)
            continue
        reviewed[(case["repo"], case["commit"])] = (
            bug["lines"], sum(1 for f in bug["findings"] if is_loud(f)))
        # The case's rules when it was written, plus the rules its kind has gained since
        # (kinds.json maps each kind to the rules meant to catch it).
        expected = set(case.get("expected", [])) | set(kinds.get(case["kind"], {}).get("rules", []))
        here = [f for f in bug["findings"] if at_spot(f, case)]
        hit = [f for f in here if f.get("code") in expected]
        other = [f for f in here if f.get("code") not in expected and is_loud(f)]
        r["caught"] = bool(hit)
        r["caught_related"] = bool(hit) or any(
            f.get("code") in expected and related_at_spot(f, case) for f in bug["findings"])
        block = enclosing_block(gd, case)
        r["caught_in_block"] = bool(hit) or any(
            f.get("code") in expected and in_block(f, case, block) for f in bug["findings"])
        if block:
            r["block"] = list(block)
        r["caught_other"] = (not hit) and bool(other)
        r["codes_at_spot"] = sorted({f.get("code") for f in here})
        if not hit:
            # diagnostics: the expected rule fired in the same file, but elsewhere
            same = [f for f in bug["findings"] if f.get("code") in expected
                    and loc(f)[0] == norm_path(case["path"])]
            if same:
                r["expected_elsewhere_in_file"] = sorted(
                    {f"{f.get('code')}@{loc(f)[2]}" + (f"#cell{loc(f)[1]}" if loc(f)[1] else "")
                     for f in same})
        fix = run.review(case["repo"], gd, case["fix_commit"])
        if fix["status"] == "ok":
            hunks = fix_hunks(gd, case)
            still = [f for f in fix["findings"]
                     if f.get("code") in expected and in_hunks(f, case, hunks)]
            r["fp_on_fix"] = bool(still)
            r["fp_codes"] = sorted({f.get("code") for f in still})
        else:
            r["fp_on_fix"] = None
            r["fix_status"] = fix["status"]
        results.append(r)

    ok = [r for r in results if r["status"] == "ok"]

    def stats(rs):
        return {"cases": len(rs), "caught": sum(r["caught"] for r in rs),
                "other": sum(r["caught_other"] for r in rs),
                "fp": sum(1 for r in rs if r.get("fp_on_fix"))}

    total = stats(ok)
    coverable = [r for r in ok if kinds.get(r["kind"], {}).get("rules", [True])]
    cov = stats(coverable)
    caught_rs = [r for r in ok if r["caught"]]
    lines = sum(v[0] for v in reviewed.values())
    loud = sum(v[1] for v in reviewed.values())
    repos = sorted({r["repo"] for r in ok})
    summary = {
        "set": args.set, "select_all": args.select_all, "mleng": args.mleng,
        "cases": len(cases), "evaluated": len(ok), "skipped": dict(skipped),
        "repos": len(repos), "caught": total["caught"], "caught_other": total["other"],
        "recall": total["caught"] / len(ok) if ok else None,
        "recall_with_other": (total["caught"] + total["other"]) / len(ok) if ok else None,
        "caught_in_block": sum(r.get("caught_in_block", False) for r in ok),
        "caught_with_related": sum(r.get("caught_related", False) for r in ok),
        "coverable_cases": cov["cases"], "coverable_caught": cov["caught"],
        "coverable_recall": cov["caught"] / cov["cases"] if cov["cases"] else None,
        "fp_on_fix": total["fp"],
        "fp_on_fix_of_caught": sum(1 for r in caught_rs if r.get("fp_on_fix")),
        "reviewed_commits": len(reviewed), "reviewed_lines": lines,
        "warnings_errors": loud,
        "warnings_errors_per_kloc": 1000.0 * loud / lines if lines else None,
    }

    md = [f"## mleng bug benchmark: set `{args.set}`"
          + (" (--select ALL)" if args.select_all else ""), ""]
    md.append(f"- cases: {len(cases)}, evaluated: {len(ok)} from {len(repos)} repositories"
              + (f"; skipped: {', '.join(f'{k} {v}' for k, v in sorted(skipped.items()))}" if skipped else ""))
    md.append(f"- caught by an expected rule: {total['caught']} ({pct(total['caught'], len(ok))})")
    md.append(f"- caught by another rule only (a warning/error at the spot): {total['other']} "
              f"({pct(total['other'], len(ok))}); either: {pct(total['caught'] + total['other'], len(ok))}")
    related_n = summary["caught_with_related"]
    md.append(f"- caught at the spot or at one of the finding's related locations (a caller of the reported "
              f"function, ...; includes the strict ones): {related_n} ({pct(related_n, len(ok))})")
    in_block_n = sum(r.get("caught_in_block", False) for r in ok)
    md.append(f"- caught by an expected rule anywhere in the innermost loop/function around the bug line "
              f"(looser match; includes the strict ones): {in_block_n} ({pct(in_block_n, len(ok))})")
    md.append(f"- cases of kinds that have a rule: {cov['cases']}, caught {cov['caught']} ({pct(cov['caught'], cov['cases'])})")
    md.append(f"- false positives on the fix commit (expected rule still in the fix's hunk): {total['fp']}"
              f" ({summary['fp_on_fix_of_caught']} of the {len(caught_rs)} caught cases)")
    if lines:
        md.append(f"- warnings+errors on the buggy commits: {loud} in {lines} lines of Python "
                  f"over {len(reviewed)} reviewed trees = {summary['warnings_errors_per_kloc']:.2f} per 1,000 lines")
    md.append("")
    by_kind = collections.defaultdict(list)
    by_repo = collections.defaultdict(list)
    for r in ok:
        by_kind[r["kind"]].append(r)
        by_repo[r["repo"]].append(r)
    md.append(table("Per kind", [(f"`{k}`", stats(v)) for k, v in
                                 sorted(by_kind.items(), key=lambda kv: (-len(kv[1]), kv[0]))]))
    md.append(table("Per repository", [(k, stats(v)) for k, v in sorted(by_repo.items())]))
    elsewhere = [r for r in ok if r.get("expected_elsewhere_in_file")]
    if elsewhere:
        md.append(f"- missed cases whose expected rule fired elsewhere in the same file: {len(elsewhere)}\n")
    errs = [r for r in results if r["status"] != "ok"]
    if errs:
        md.append("### Not evaluated\n")
        for r in errs:
            md.append(f"- {r['id']}: {r['status']} {r.get('error', '')}".rstrip())
        md.append("")
    print("\n".join(md))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"summary": summary, "cases": results}, f, indent=1)
    if not args.quiet:
        print(f"scratch: {run.work}", file=sys.stderr)


if __name__ == "__main__":
    main()
