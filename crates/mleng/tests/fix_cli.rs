//! End-to-end tests of `mleng review --fix / --unsafe-fixes / --diff / --stdin-filename /
//! --diff-base / --write-baseline / --baseline`: they run the real binary on files in a
//! temporary folder.

use std::fs;
use std::path::Path;

use assert_cmd::Command;

fn mleng(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("mleng").expect("binary");
    cmd.env("NO_COLOR", "1").current_dir(dir);
    cmd
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A training step with a safe fix (TRN002: unscale before clipping) and an unsafe one
/// (SEC001: weights_only), in CRLF line endings to check they are kept.
const TRAIN: &str = "import torch\r\n\r\n\r\ndef step(model, x, optimizer, scaler):\r\n    with torch.autocast(\"cuda\"):\r\n        loss = model(x).sum()\r\n    scaler.scale(loss).backward()\r\n    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)\r\n    scaler.step(optimizer)\r\n    scaler.update()\r\n\r\n\r\nstate = torch.load(\"ckpt.pt\")\r\n";

fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("train.py"), TRAIN).unwrap();
    dir
}

#[test]
fn diff_shows_safe_fixes_and_writes_nothing() {
    let dir = project();
    let (code, out, err) = run(mleng(dir.path()).args(["review", "--diff", "train.py"]));
    assert_eq!(code, 1, "a fix to apply exits 1: {err}");
    assert!(out.contains("+    scaler.unscale_(optimizer)"), "{out}");
    assert!(
        !out.contains("weights_only"),
        "unsafe fixes need --unsafe-fixes: {out}"
    );
    assert!(err.contains("1 more fix with --unsafe-fixes"), "{err}");
    assert_eq!(
        fs::read_to_string(dir.path().join("train.py")).unwrap(),
        TRAIN
    );
}

#[test]
fn fix_applies_keeps_line_endings_and_a_second_run_has_nothing_to_do() {
    let dir = project();
    let (code, _, err) = run(mleng(dir.path()).args(["review", "--fix", "--unsafe-fixes", "."]));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("fixed 2 findings in 1 file"), "{err}");
    let fixed = fs::read_to_string(dir.path().join("train.py")).unwrap();
    assert!(fixed.contains(
        "backward()\r\n    scaler.unscale_(optimizer)\r\n    torch.nn.utils.clip_grad_norm_"
    ));
    assert!(fixed.contains("torch.load(\"ckpt.pt\", weights_only=True)\r\n"));
    assert_eq!(fixed.matches('\n').count(), fixed.matches("\r\n").count());
    let (code, out, err) = run(mleng(dir.path()).args(["review", "--diff", "--unsafe-fixes", "."]));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("nothing to fix"), "{err}");
}

#[test]
fn the_summary_says_what_fix_would_apply() {
    let dir = project();
    let (_, out, _) = run(mleng(dir.path()).args(["review", "--format", "concise", "."]));
    assert!(
        out.contains("1 fixable with --fix (1 more with --unsafe-fixes)."),
        "{out}"
    );
}

#[test]
fn unsafe_fixes_alone_is_a_usage_error() {
    let dir = project();
    let (code, _, err) = run(mleng(dir.path()).args(["review", "--unsafe-fixes", "."]));
    assert_eq!(code, 2);
    assert!(err.contains("--fix"), "{err}");
}

#[test]
fn stdin_is_reviewed_as_the_named_file_and_fixed_to_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(mleng(dir.path())
        .args([
            "review",
            "--stdin-filename",
            "src/train.py",
            "--format",
            "concise",
        ])
        .write_stdin(TRAIN));
    assert_eq!(code, 0);
    assert!(out.contains("src/train.py:8:"), "{out}");
    let (code, out, err) = run(mleng(dir.path())
        .args(["review", "--fix", "--stdin-filename", "train.py"])
        .write_stdin(TRAIN));
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("scaler.unscale_(optimizer)"),
        "fixed code on stdout: {out}"
    );
    assert!(
        !dir.path().join("train.py").exists(),
        "nothing is written for stdin"
    );
}

#[test]
fn a_notebook_is_fixed_inside_its_cell_and_keeps_its_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let nb = r#"{
 "cells": [
  {
   "cell_type": "code",
   "execution_count": 3,
   "metadata": {"tags": ["keep"]},
   "outputs": [{"name": "stdout", "output_type": "stream", "text": ["é 1\n"]}],
   "source": [
    "import torch\n",
    "state = torch.load('w.pt')"
   ]
  }
 ],
 "metadata": {"kernelspec": {"language": "python", "name": "python3"}},
 "nbformat": 4,
 "nbformat_minor": 5
}
"#;
    let path = dir.path().join("explore.ipynb");
    fs::write(&path, nb).unwrap();
    let (code, _, err) = run(mleng(dir.path()).args([
        "review",
        "--fix",
        "--unsafe-fixes",
        "--select",
        "SEC001",
        ".",
    ]));
    assert_eq!(code, 0, "{err}");
    let fixed = fs::read_to_string(&path).unwrap();
    assert_eq!(
        fixed,
        nb.replace(
            "torch.load('w.pt')",
            "torch.load('w.pt', weights_only=True)"
        ),
        "only the cell's source changes"
    );
}

fn git(dir: &Path, args: &[&str]) {
    let status = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// Two ARC002 typos (a per-file rule, one finding per line).
const FREEZE: &str =
    "def freeze(model):\n    for p in model.parameters():\n        p.require_grad = False\n";

#[test]
fn diff_base_reports_only_changed_lines() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("freeze.py"), FREEZE).unwrap();
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "-q", "-m", "base"]);
    let more =
        "\n\ndef thaw(model):\n    for p in model.parameters():\n        p.requires_grads = True\n";
    fs::write(dir.path().join("freeze.py"), format!("{FREEZE}{more}")).unwrap();
    fs::write(dir.path().join("new.py"), FREEZE).unwrap();
    let args = ["review", "--select", "ARC002", "--format", "concise", "."];
    let (_, all, _) = run(mleng(dir.path()).args(args));
    assert_eq!(all.matches("ARC002").count(), 3, "{all}");
    let (code, out, err) = run(mleng(dir.path()).args(args).args(["--diff-base", "main"]));
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("freeze.py:3:"), "an untouched line: {out}");
    assert!(out.contains("freeze.py:8:"), "an added line: {out}");
    assert!(out.contains("new.py:3:"), "an untracked file: {out}");
    let (code, _, err) = run(mleng(dir.path()).args(args).args(["--diff-base", "nope"]));
    assert_eq!(code, 2);
    assert!(err.contains("`nope` is not a commit"), "{err}");
}

#[test]
fn a_baseline_hides_recorded_findings_even_after_lines_move() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("freeze.py"), FREEZE).unwrap();
    let select = ["--select", "ARC002", "--format", "concise"];
    let (code, _, err) = run(mleng(dir.path())
        .args(["review", ".", "--write-baseline", "mleng-baseline.json"])
        .args(select));
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("recorded 1 findings"), "{err}");
    // The recorded line moves down; a new one is added.
    fs::write(
        dir.path().join("freeze.py"),
        format!("import torch\n\n\n{FREEZE}        p.requires_grads = True\n"),
    )
    .unwrap();
    let (code, out, err) = run(mleng(dir.path())
        .args([
            "review",
            ".",
            "--baseline",
            "mleng-baseline.json",
            "--fail-on",
            "info",
        ])
        .args(select));
    assert_eq!(code, 1, "{err}");
    assert_eq!(out.matches("ARC002").count(), 1, "{out}");
    assert!(out.contains("freeze.py:7:"), "{out}");
    let (code, _, err) = run(mleng(dir.path())
        .args(["review", ".", "--baseline", "missing.json"])
        .args(select));
    assert_eq!(code, 2);
    assert!(err.contains("missing.json"), "{err}");
}

/// The progress line appears only on a terminal: run under `script` (util-linux), which gives
/// the review a pseudo-terminal, with the delay shortened so that a short review shows it.
#[test]
fn a_progress_line_on_a_terminal_only() {
    let script = std::process::Command::new("script")
        .arg("--version")
        .output();
    assert!(
        script.is_ok_and(|o| o.status.success()),
        "this test needs `script` (util-linux) on PATH"
    );
    let dir = project();
    let bin = assert_cmd::cargo::cargo_bin("mleng");
    let command = format!("{} review --format concise .", bin.display());
    let out = std::process::Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("MLENG_PROGRESS_DELAY_MS", "0")
        .env("NO_COLOR", "1")
        .current_dir(dir.path())
        .output()
        .expect("script runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("mleng: reviewed "), "{text}");
    assert!(text.contains("\r\x1b[2K"), "the line is erased: {text:?}");
    // Not a terminal: no progress line, whatever the delay.
    let (_, _, err) = run(mleng(dir.path())
        .env("MLENG_PROGRESS_DELAY_MS", "0")
        .args(["review", "."]));
    assert!(!err.contains("reviewed"), "{err}");
}
