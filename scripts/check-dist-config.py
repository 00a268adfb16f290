#!/usr/bin/env python3
"""Checks the distribution files parse and agree with the binary they package.

    python3 scripts/check-dist-config.py [MLENG]

- pyproject.toml: a maturin `bin` build of crates/mleng, version taken from Cargo, and no
  [tool.mleng] table (it would configure every review inside this repository);
- .pre-commit-hooks.yaml: the mleng-review and mleng-fix hooks, each a `mleng review` command
  with the keys pre-commit needs;
- action.yml: a composite action whose `${{ inputs.X }}` references are all declared inputs;
- with MLENG (a built binary): every `--flag` the hooks and the action pass to `mleng review`
  is one `mleng review --help` lists (flags that other work adds, `--fix` and `--diff-base`, are
  reported as pending when the binary lacks them), and the action's `mleng review` step, run
  as GitHub runs it (bash -eo pipefail, inputs as environment, $GITHUB_OUTPUT) in a temporary
  git repository: annotations, a SARIF file, `fail-on` (error, none), an invalid format, and a
  pull request with `diff-base: auto` (only the changed file's findings once the binary has
  `--diff-base`; a warning and a full review before).

Needs PyYAML (and tomli before Python 3.11): `pip install pyyaml "tomli; python_version<'3.11'"`.
Exits 1 with one line per problem.
"""

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

import yaml

ROOT = Path(__file__).resolve().parent.parent
# Flags that the files declare ahead of the binary: checked only when the binary has them.
PENDING = {"--fix", "--diff-base"}

problems: list[str] = []


def problem(text: str) -> None:
    problems.append(text)


def flags_of(command: str) -> set[str]:
    return {m.split("=", 1)[0] for m in re.findall(r"(?<![\w-])--[a-z][a-z-]*(?:=\S+)?", command)}


def check_pyproject() -> None:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    if data.get("build-system", {}).get("build-backend") != "maturin":
        problem("pyproject.toml: build-backend is not maturin")
    maturin = data.get("tool", {}).get("maturin", {})
    if maturin.get("bindings") != "bin":
        problem("pyproject.toml: [tool.maturin] bindings is not \"bin\"")
    manifest = maturin.get("manifest-path", "")
    if not (ROOT / manifest).is_file():
        problem(f"pyproject.toml: manifest-path {manifest!r} does not exist")
    if "version" not in data.get("project", {}).get("dynamic", []):
        problem("pyproject.toml: the version must be dynamic (taken from Cargo.toml)")
    if "mleng" in data.get("tool", {}):
        problem("pyproject.toml: [tool.mleng] here would configure every review in the repository")


def check_hooks() -> set[str]:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    if not isinstance(hooks, list):
        problem(".pre-commit-hooks.yaml: not a list of hooks")
        return set()
    ids = {h.get("id") for h in hooks}
    if ids != {"mleng-review", "mleng-fix"}:
        problem(f".pre-commit-hooks.yaml: hook ids {sorted(map(str, ids))}")
    flags: set[str] = set()
    for hook in hooks:
        for key in ("id", "name", "entry", "language"):
            if key not in hook:
                problem(f".pre-commit-hooks.yaml: {hook.get('id')} has no {key}")
        entry = hook.get("entry", "")
        if not entry.startswith("mleng review"):
            problem(f".pre-commit-hooks.yaml: {hook.get('id')} runs {entry!r}, not mleng review")
        if hook.get("language") != "python":
            problem(f".pre-commit-hooks.yaml: {hook.get('id')} is not language: python")
        if hook.get("pass_filenames") is False:
            problem(f".pre-commit-hooks.yaml: {hook.get('id')} does not pass file names")
        if not hook.get("require_serial"):
            problem(f".pre-commit-hooks.yaml: {hook.get('id')} would split files across processes")
        flags |= flags_of(" ".join([entry, *map(str, hook.get("args", []))]))
    return flags


def check_action() -> set[str]:
    text = (ROOT / "action.yml").read_text()
    action = yaml.safe_load(text)
    runs = action.get("runs", {})
    if runs.get("using") != "composite":
        problem("action.yml: not a composite action")
    declared = set(action.get("inputs", {}))
    for used in sorted(set(re.findall(r"inputs\.([a-z][a-z0-9-]*)", text)) - declared):
        problem(f"action.yml: inputs.{used} is used but not declared")
    for step in runs.get("steps", []):
        if "run" in step and "shell" not in step:
            problem(f"action.yml: step {step.get('name')!r} has run but no shell")
    review = next((s for s in runs.get("steps", []) if s.get("id") == "review"), None)
    if review is None:
        problem("action.yml: no step with id review")
        return set()
    written = set(re.findall(r"echo \"([a-z-]+)=", review.get("run", "")))
    for used in sorted(set(re.findall(r"steps\.review\.outputs\.([a-z-]+)", text)) - written):
        problem(f"action.yml: steps.review.outputs.{used} is read but never written")
    run = review.get("run", "")
    return set(re.findall(r"(?<![\w-])--(?:no-color|format|fail-on|diff-base)\b", run))


def check_flags(mleng: str, flags: set[str]) -> None:
    out = subprocess.run([mleng, "review", "--help"], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        problem(f"{mleng} review --help exited {out.returncode}")
        return
    known = flags_of(out.stdout)
    for flag in sorted(flags - known):
        if flag in PENDING:
            print(f"note: {flag} is not in this binary's `review --help` yet (declared ahead of it: the action checks for it, the mleng-fix hook needs it)")
        else:
            problem(f"`mleng review {flag}` is used by the hooks or the action but does not exist")


BAD = "import torch\n\n\ndef freeze(model):\n    for p in model.parameters():\n        p.require_grad = False\n"


def git(repo: Path, *args: str) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def run_review_step(mleng: str, repo: Path, tmp: Path, **inputs: str):
    """Runs the action's review step; returns (exit status, stdout, outputs)."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    step = next(s for s in action["runs"]["steps"] if s.get("id") == "review")
    defaults = {k: str(v.get("default", "")) for k, v in action["inputs"].items()}
    values = {**defaults, **inputs}
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    if not (bindir / "mleng").exists():
        (bindir / "mleng").symlink_to(Path(mleng).resolve())
    output = tmp / "github_output"
    output.write_text("")
    env = {
        **os.environ,
        "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}",
        "GITHUB_OUTPUT": str(output),
        "EVENT_NAME": values.pop("event", "push"),
        "BASE_REF": values.pop("base", ""),
    }
    for name, value in values.items():
        env["INPUT_" + name.upper().replace("-", "_")] = value
    script = tmp / "step.sh"
    script.write_text(step["run"])
    proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
                          cwd=repo, env=env, capture_output=True, text=True, check=False)
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return proc.returncode, proc.stdout + proc.stderr, outputs


def check_action_step(mleng: str) -> None:
    has_diff_base = "--diff-base" in flags_of(
        subprocess.run([mleng, "review", "--help"], capture_output=True, text=True).stdout)
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        repo = tmp / "repo"
        repo.mkdir()
        git(repo, "init", "-q", "-b", "main")
        (repo / "old.py").write_text(BAD)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "base")
        git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
        (repo / "new.py").write_text(BAD)
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "change")

        def expect(what: str, ok: bool, text: str) -> None:
            if not ok:
                problem(f"action step, {what}:\n{text}")

        rc, out, outs = run_review_step(mleng, repo, tmp, format="github")
        expect("github format exits 0 and records exit-code 1", rc == 0 and outs.get("exit-code") == "1", out)
        expect("github format annotates both files", "::error file=old.py" in out and "::error file=new.py" in out, out)

        rc, out, outs = run_review_step(mleng, repo, tmp, format="sarif")
        sarif = repo / "mleng.sarif"
        expect("sarif format writes mleng.sarif", rc == 0 and outs.get("sarif-file") == "mleng.sarif" and sarif.is_file(), out)
        if sarif.is_file():
            results = json.loads(sarif.read_text())["runs"][0]["results"]
            expect("the SARIF report has both findings", len(results) == 2, sarif.read_text()[:2000])

        rc, out, outs = run_review_step(mleng, repo, tmp, **{"fail-on": "none"})
        expect("fail-on none records exit-code 0", rc == 0 and outs.get("exit-code") == "0", out)

        rc, out, _ = run_review_step(mleng, repo, tmp, format="text")
        expect("an invalid format fails the step with 2", rc == 2 and "::error::" in out, out)

        rc, out, outs = run_review_step(mleng, repo, tmp, event="pull_request", base="main")
        if has_diff_base:
            expect("a pull request reports only the changed file", rc == 0 and "new.py" in out and "old.py" not in out, out)
        else:
            expect("without --diff-base a pull request warns and reviews everything",
                   rc == 0 and "::warning::" in out and "old.py" in out, out)
            print("note: this mleng has no --diff-base; the pull-request path was checked for its warning")


def main() -> int:
    check_pyproject()
    flags = check_hooks() | check_action()
    if len(sys.argv) > 1:
        check_flags(sys.argv[1], flags)
        check_action_step(sys.argv[1])
    for line in problems:
        print(f"check-dist-config: {line}", file=sys.stderr)
    if not problems:
        print(f"check-dist-config: OK (flags checked: {', '.join(sorted(flags))})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
