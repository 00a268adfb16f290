//! End-to-end tests of `mleng review`, `rules` and `explain`: they run the real binary.

use std::fs;
use std::path::{Path, PathBuf};

use assert_cmd::Command;

fn mleng() -> Command {
    let mut cmd = Command::cargo_bin("mleng").expect("binary");
    cmd.env("NO_COLOR", "1");
    cmd
}

/// The first output line that names `name` (a file), or an empty string.
fn line_naming(out: &str, name: &str) -> String {
    out.lines()
        .find(|l| l.contains(name))
        .unwrap_or_default()
        .to_string()
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn stdout_of(cmd: &mut Command) -> (i32, String, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn example_project_shows_every_seed_rule() {
    let (code, out, _) = stdout_of(mleng().current_dir(repo_root()).args([
        "review",
        "examples/flowers",
        "--format",
        "concise",
    ]));
    assert_eq!(code, 0, "advisory: findings do not fail the run\n{out}");
    for rule in [
        "ARC001", "TRN001", "TRN002", "TRN003", "CV001", "CV002", "CV003",
    ] {
        assert!(out.contains(rule), "{rule} missing from:\n{out}");
    }
    // Notebook findings point at the cell and the line inside it.
    assert!(
        out.contains("examples/flowers/explore.ipynb:cell 3:7:5: CV001"),
        "{out}"
    );
    // The project's pyproject.toml raises TRN001 to a warning.
    assert!(out.contains("TRN001 [warning]"), "{out}");
}

#[test]
fn fail_on_turns_review_into_a_gate() {
    let root = repo_root();
    let (code, _, _) = stdout_of(mleng().current_dir(&root).args([
        "review",
        "examples/flowers",
        "--fail-on",
        "error",
    ]));
    assert_eq!(code, 1);
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("clean.py"),
        "import torch\nx = torch.zeros(3)\n",
    )
    .unwrap();
    let (code, out, _) = stdout_of(
        mleng()
            .arg("review")
            .arg(dir.path())
            .args(["--fail-on", "info"]),
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("No findings in 1 file"), "{out}");
}

#[test]
fn missing_path_is_a_usage_error() {
    let (code, out, _) =
        stdout_of(mleng().args(["review", "does/not/exist.py", "--format", "concise"]));
    assert_eq!(code, 2);
    assert!(
        out.contains("does/not/exist.py") && out.contains("no such file"),
        "{out}"
    );
}

#[test]
fn bad_input_is_reported_per_file_and_the_rest_is_reviewed() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::write(p.join("binary.py"), [0x7f, b'E', b'L', b'F', 0, 0, 1, 2]).unwrap();
    fs::write(p.join("latin1.py"), b"# caf\xe9\nx = 1\n").unwrap();
    fs::write(p.join("broken.ipynb"), "{\"cells\": [").unwrap();
    // A valid R notebook is not bad input: skipped without a finding.
    let r_notebook = r#"{"cells": [{"cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": ["x <- c(1, 2)"]}], "metadata": {"kernelspec": {"name": "ir", "display_name": "R", "language": "R"}}, "nbformat": 4, "nbformat_minor": 5}"#;
    fs::write(p.join("analysis_r.ipynb"), r_notebook).unwrap();
    fs::write(
        p.join("syntax.py"),
        "for batch in loader\n    loss.backward()\n",
    )
    .unwrap();
    fs::write(p.join("py2.py"), "loss = 0.5\nprint 'loss', loss\n").unwrap();
    // A course notebook's exercise cells: placeholders, not broken code (yandexdataschool's
    // Practical_DL, udacity's deep-learning-v2-pytorch); a real error in a cell stays one.
    let cells = [
        "def softmax(x):\n    ## TODO: implement the softmax function here\n",
        "loss = <logistic loss between predictions and labels>\n",
        "x = \ny = 2\n",
        "for i in range(3)\n    print(i)\n",
    ];
    let cells: Vec<String> = cells
        .iter()
        .map(|c| {
            format!(
                "{{\"cell_type\": \"code\", \"metadata\": {{}}, \"outputs\": [], \"source\": {}}}",
                serde_json::to_string(c).unwrap()
            )
        })
        .collect();
    fs::write(
        p.join("exercise.ipynb"),
        format!(
            "{{\"cells\": [{}], \"metadata\": {{}}, \"nbformat\": 4, \"nbformat_minor\": 5}}",
            cells.join(", ")
        ),
    )
    .unwrap();
    // Several parser errors from a few broken lines: one finding, the rest counted.
    fs::write(p.join("many.py"), "def f(:\n    x = = 1\ny = (\n").unwrap();
    fs::write(
        p.join("good.py"),
        "import torch.nn as nn\nhead = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))\n",
    )
    .unwrap();
    let (code, out, err) = stdout_of(mleng().arg("review").arg(p).args(["--format", "concise"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("panicked"), "{err}");
    let line_of = |name: &str| line_naming(&out, name);
    assert!(
        line_of("binary.py").contains("INP001") && line_of("binary.py").contains("binary file"),
        "{out}"
    );
    assert!(
        line_of("latin1.py").contains("INP001") && line_of("latin1.py").contains("UTF-8"),
        "{out}"
    );
    assert!(line_of("broken.ipynb").contains("INP003"), "{out}");
    assert!(!out.contains("analysis_r.ipynb"), "{out}");
    assert!(
        line_of("syntax.py").contains("INP002") && line_of("syntax.py").contains("syntax.py:1:"),
        "{out}"
    );
    assert!(line_of("good.py").contains("ARC001"), "{out}");
    assert!(
        line_of("py2.py").contains("INP002") && line_of("py2.py").contains("Python 2"),
        "{out}"
    );
    // Legacy Python 2 is reported as skipped (info), a real syntax error as an error.
    assert!(line_of("py2.py").contains("[info]"), "{out}");
    assert!(line_of("many.py").contains("[error]"), "{out}");
    let exercise: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("exercise.ipynb"))
        .collect();
    assert_eq!(exercise.len(), 4, "{out}");
    for cell in 1..=3 {
        let line = exercise
            .iter()
            .find(|l| l.contains(&format!("cell {cell}:")));
        assert!(
            line.is_some_and(|l| l.contains("[info]") && l.contains("placeholder")),
            "{out}"
        );
    }
    assert!(
        exercise
            .iter()
            .any(|l| l.contains("cell 4:") && l.contains("[error]")),
        "{out}"
    );
    assert_eq!(
        out.lines().filter(|l| l.contains("many.py")).count(),
        1,
        "{out}"
    );
    assert!(
        line_of("many.py").contains("many.py:1:")
            && line_of("many.py").contains("more syntax error"),
        "{out}"
    );
}

#[test]
fn generated_deep_code_never_aborts_the_review() {
    // A 200,000-term sum (as generated code has) overflowed the stack and aborted the whole
    // review; a tree deeper than the limit is now one INP004 and every other file is reviewed.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let chain = |n: usize| format!("y = {}\n", vec!["a"; n].join(" + "));
    fs::write(p.join("sum200k.py"), chain(200_000)).unwrap();
    fs::write(p.join("sum2m.py"), chain(2_000_000)).unwrap();
    let parens = format!("x = {}1{}\n", "(".repeat(200_000), ")".repeat(200_000));
    fs::write(p.join("parens.py"), parens).unwrap();
    let deep_brackets = format!("x = {}1{}\n", "[".repeat(300_000), "]".repeat(300_000));
    fs::write(p.join("brackets.py"), deep_brackets).unwrap();
    fs::write(
        p.join("good.py"),
        "import torch.nn as nn\nhead = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))\n",
    )
    .unwrap();
    let (code, out, err) = stdout_of(mleng().arg("review").arg(p).args(["--format", "concise"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !err.contains("panicked") && !err.contains("overflow"),
        "{err}"
    );
    let line_of = |name: &str| line_naming(&out, name);
    assert!(line_of("good.py").contains("ARC001"), "{out}");
    assert!(line_of("sum2m.py").contains("INP004"), "{out}");
    assert!(line_of("brackets.py").contains("INP004"), "{out}");
    // Deep, but within what the review threads walk: reviewed, nothing to report.
    assert!(
        !out.contains("sum200k.py") && !out.contains("parens.py"),
        "{out}"
    );
}

#[test]
fn notebook_magics_do_not_break_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let nb = serde_json::json!({
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"language_info": {"name": "python"}},
        "cells": [
            {"cell_type": "code", "metadata": {}, "execution_count": 1, "outputs": [],
             "source": ["%matplotlib inline\n", "!nvidia-smi\n", "import torch.nn as nn\n"]},
            {"cell_type": "markdown", "metadata": {}, "source": ["notes"]},
            {"cell_type": "code", "metadata": {}, "execution_count": 2, "outputs": [],
             "source": ["m = nn.Sequential(\n", "    nn.Dropout(0.1),\n", "    nn.BatchNorm1d(4),\n", ")\n"]}
        ]
    });
    fs::write(dir.path().join("nb.ipynb"), nb.to_string()).unwrap();
    let (code, out, _) = stdout_of(
        mleng()
            .arg("review")
            .arg(dir.path())
            .args(["--format", "concise"]),
    );
    assert_eq!(code, 0);
    assert!(!out.contains("INP"), "{out}");
    assert!(out.contains("nb.ipynb:cell 3:2:5: ARC001"), "{out}");
}

#[test]
fn noqa_and_mleng_ignore_suppress_on_the_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("m.py"),
        "import torch.nn as nn\n\
         a = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))  # noqa: ARC001\n\
         b = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))  # mleng: ignore[ARC001]\n\
         c = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))  # noqa: TRN001\n",
    )
    .unwrap();
    let (_, out, _) = stdout_of(
        mleng()
            .arg("review")
            .arg(dir.path())
            .args(["--format", "concise"]),
    );
    let hits: Vec<&str> = out.lines().filter(|l| l.contains("ARC001")).collect();
    assert_eq!(hits.len(), 1, "{out}");
    assert!(hits[0].contains("m.py:4:"), "{out}");
}

#[test]
fn configuration_selects_overrides_and_rejects_unknown_codes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    fs::write(
        p.join("m.py"),
        "import torch.nn as nn\nm = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))\n",
    )
    .unwrap();
    fs::write(p.join("mleng.toml"), "[severity]\nARC001 = \"error\"\n").unwrap();
    let (_, out, _) = stdout_of(
        mleng()
            .current_dir(p)
            .args(["review", "--format", "concise"]),
    );
    assert!(out.contains("ARC001 [error]"), "{out}");
    // CLI flags override the file.
    let (_, out, _) = stdout_of(
        mleng()
            .current_dir(p)
            .args(["review", "--format", "concise", "--ignore", "ARC"]),
    );
    assert!(!out.contains("ARC001"), "{out}");
    // per-file-ignores
    fs::write(
        p.join("mleng.toml"),
        "[per-file-ignores]\n\"m.py\" = [\"ARC001\"]\n",
    )
    .unwrap();
    let (_, out, _) = stdout_of(
        mleng()
            .current_dir(p)
            .args(["review", "--format", "concise"]),
    );
    assert!(!out.contains("ARC001"), "{out}");
    // Unknown codes and keys are clear errors (exit 2), naming the file.
    fs::write(p.join("mleng.toml"), "ignore = [\"XYZ999\"]\n").unwrap();
    let (code, _, err) = stdout_of(mleng().current_dir(p).args(["review"]));
    assert_eq!(code, 2);
    assert!(
        err.contains("XYZ999") && err.contains("mleng.toml"),
        "{err}"
    );
    fs::write(p.join("mleng.toml"), "selct = [\"ARC\"]\n").unwrap();
    let (code, _, err) = stdout_of(mleng().current_dir(p).args(["review"]));
    assert_eq!(code, 2);
    assert!(err.contains("selct"), "{err}");
    // pyproject.toml [tool.mleng] works too.
    fs::remove_file(p.join("mleng.toml")).unwrap();
    fs::write(
        p.join("pyproject.toml"),
        "[project]\nname = \"x\"\n\n[tool.mleng]\nselect = [\"TRN\"]\n",
    )
    .unwrap();
    let (code, out, _) = stdout_of(
        mleng()
            .current_dir(p)
            .args(["review", "--format", "concise"]),
    );
    assert_eq!(code, 0);
    assert!(!out.contains("ARC001"), "{out}");
}

#[test]
fn machine_formats_are_valid() {
    let root = repo_root();
    let (_, out, _) = stdout_of(mleng().current_dir(&root).args([
        "review",
        "examples/flowers",
        "--format",
        "json",
    ]));
    let findings: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert!(findings.as_array().is_some_and(|a| a.len() >= 7));
    let (_, out, _) = stdout_of(mleng().current_dir(&root).args([
        "review",
        "examples/flowers",
        "--format",
        "sarif",
    ]));
    let sarif: serde_json::Value = serde_json::from_str(&out).expect("sarif json");
    assert_eq!(sarif["version"], "2.1.0");
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .expect("rules");
    assert!(rules.iter().any(|r| r["id"] == "TRN002"));
    let (_, out, _) = stdout_of(mleng().current_dir(&root).args([
        "review",
        "examples/flowers",
        "--format",
        "github",
    ]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("::error file=examples/flowers/train.py")),
        "{out}"
    );
    let (_, out, _) = stdout_of(mleng().current_dir(&root).args([
        "review",
        "examples/flowers",
        "--format",
        "markdown",
    ]));
    assert!(
        out.contains("Training pipeline") && out.contains("Computer vision"),
        "{out}"
    );
    let (code, _, err) = stdout_of(
        mleng()
            .current_dir(&root)
            .args(["review", "examples", "--format", "xml"]),
    );
    assert_eq!(code, 2);
    assert!(err.contains("unknown format"), "{err}");
}

#[test]
fn rules_and_explain_print_from_the_registry() {
    let (code, out, _) = stdout_of(mleng().arg("rules"));
    assert_eq!(code, 0);
    for rule in [
        "ARC001", "TRN001", "TRN002", "TRN003", "CV001", "CV002", "CV003",
    ] {
        assert!(out.contains(rule), "{out}");
    }
    let (code, out, _) = stdout_of(mleng().args(["explain", "clip-grad-without-unscale"]));
    assert_eq!(code, 0);
    assert!(
        out.contains("# TRN002")
            && out.contains("## Why is this bad?")
            && out.contains("## References"),
        "{out}"
    );
    let (code, _, err) = stdout_of(mleng().args(["explain", "NOPE1"]));
    assert_eq!(code, 2);
    assert!(err.contains("unknown rule"), "{err}");
}

#[test]
fn readme_rule_table_is_generated_from_the_registry() {
    let readme = fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let start =
        readme.find("<!-- rules:start -->").expect("start marker") + "<!-- rules:start -->\n".len();
    let end = readme.find("<!-- rules:end -->").expect("end marker");
    let (_, table, _) = stdout_of(mleng().args(["rules", "--format", "markdown"]));
    assert_eq!(
        &readme[start..end],
        table,
        "README rule table is stale: run scripts/update-readme-rules.sh"
    );
}

#[test]
fn test_and_benchmark_code_gets_input_findings_only() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let toy = "import torch.nn as nn\nhead = nn.Sequential(nn.Dropout(0.5), nn.BatchNorm1d(8))\n";
    fs::create_dir(p.join("tests")).unwrap();
    fs::write(p.join("tests").join("helpers.py"), toy).unwrap();
    fs::write(p.join("test_model.py"), toy).unwrap();
    fs::write(p.join("bench_forward.py"), toy).unwrap();
    fs::write(p.join("model.py"), toy).unwrap();
    fs::write(p.join("test_broken.py"), "def f(:\n").unwrap();
    let (code, out, err) = stdout_of(mleng().arg("review").arg(p).args(["--format", "concise"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("model.py:2:") && out.contains("ARC001"),
        "{out}"
    );
    for quiet in ["helpers.py", "test_model.py", "bench_forward.py"] {
        assert!(!out.contains(quiet), "{quiet}: {out}");
    }
    assert!(
        out.contains("test_broken.py") && out.contains("INP002"),
        "{out}"
    );
}

#[test]
fn one_mistake_seen_by_two_rules_is_reported_once() {
    // A classifier that ends in softmax, trained with cross-entropy (PyTorch-GAN's pixelda):
    // ARC011 and TRN007 both see the loss call; the default rule set shows it once.
    let dir = tempfile::tempdir().unwrap();
    let code = "import torch\nimport torch.nn as nn\n\n\nclass Classifier(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.out = nn.Sequential(nn.Linear(8, 10), nn.Softmax(dim=1))\n\n    def forward(self, x):\n        return self.out(x)\n\n\ntorch.manual_seed(0)\nclassifier = Classifier()\ntask_loss = nn.CrossEntropyLoss()\nopt = torch.optim.Adam(classifier.parameters())\nfor x, y in [(torch.randn(4, 8), torch.tensor([0, 1, 2, 3]))]:\n    loss = task_loss(classifier(x), y)\n    opt.zero_grad()\n    loss.backward()\n    opt.step()\n    print(loss.item())\n";
    fs::write(dir.path().join("pixelda.py"), code).unwrap();
    let (code, out, err) = stdout_of(
        mleng()
            .arg("review")
            .arg(dir.path())
            .args(["--format", "concise"]),
    );
    assert_eq!(code, 0, "{out}{err}");
    let on_loss: Vec<&str> = out
        .lines()
        .filter(|l| l.contains("pixelda.py:19:"))
        .collect();
    assert_eq!(on_loss.len(), 1, "{out}");
    assert!(on_loss[0].contains("ARC011"), "{out}");
    // Selected alone, TRN007 still reports it.
    let (_, alone, _) = stdout_of(
        mleng()
            .arg("review")
            .arg(dir.path())
            .args(["--format", "concise", "--select", "TRN007"]),
    );
    assert!(
        alone.contains("pixelda.py:19:") && alone.contains("TRN007"),
        "{alone}"
    );
}
