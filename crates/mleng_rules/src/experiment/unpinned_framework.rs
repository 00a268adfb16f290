use mleng_diagnostics::{Area, Fix, Severity};

use crate::project::requirements::RequirementFile;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP004",
    name: "unpinned-framework",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: None,
    summary: "A requirement file of a training project names torch or another ML framework without any version.",
    docs: r#"## What it does
Reads the requirement files next to the reviewed code (`requirements*.txt`, `pyproject.toml`
dependencies, `environment.yml`) and reports, once per file, the ML frameworks it names with
no version at all: `torch`, `torchvision`, `torchaudio`, `lightning`, `transformers`,
`accelerate`, `timm`, `tensorflow`, `jax`, `keras`. A pin (`==2.5.1`), a bound (`>=2.1,<2.6`),
a compatible release (`~=2.5.0`) or a Poetry caret (`^2.5`) all count as versioned. Only
requirement files that cover a training entry point (a script or notebook that trains, in the
same folder or below) are checked, so a library's loose dependencies are not reported; nor are
the dependencies of a distributable package (a `pyproject.toml` with a `[build-system]`, even
with example training scripts below it) or of a project with a lock file next to them
(`uv.lock`, `poetry.lock`, `pdm.lock`, `Pipfile.lock`), where the pins live.

## Why is this bad?
`pip install -r requirements.txt` installs whatever is newest on that day. PyTorch states
that completely reproducible results are not guaranteed across releases: kernels, default
arguments and numerics change (`torch.load` switched to `weights_only=True` in 2.6; cuDNN
algorithm choices change between builds). A run that cannot be re-created with the versions
it used cannot be reproduced or bisected when a result changes.

## Example
```text
torch
torchvision
numpy>=1.24
```

## Use instead
```text
torch==2.5.1
torchvision==0.20.1
numpy>=1.24
```
Record the versions you actually ran with (`pip freeze`, or a lock file from `uv lock` /
`poetry lock` / `conda env export`).

## References
- PyTorch, "Reproducibility" ("not guaranteed across PyTorch releases"): <https://pytorch.org/docs/stable/notes/randomness.html>
- pip, "Repeatable Installs": <https://pip.pypa.io/en/stable/topics/repeatable-installs/>
- PEP 440 version specifiers: <https://peps.python.org/pep-0440/#version-specifiers>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    let facts = ctx.facts;
    let entry_points = facts.training_entry_points();
    for file in &facts.requirements.files {
        // A published package's `[project]` dependencies are ranges on purpose; a project
        // with a lock file pins there.
        if file.library_or_locked {
            continue;
        }
        let Some(root) = covered_root(file) else {
            continue;
        };
        if !entry_points.iter().any(|e| e.file.path.starts_with(root)) {
            continue;
        }
        let unpinned: Vec<_> = file.entries.iter().filter(|e| e.spec.is_empty()).collect();
        let Some(first) = unpinned.first() else {
            continue;
        };
        let mut names: Vec<&str> = Vec::new();
        for entry in &unpinned {
            if !names.contains(&entry.name.as_str()) {
                names.push(&entry.name);
            }
        }
        let file_name = file
            .path
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().to_string());
        let list = names
            .iter()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "`{file_name}` names {list} without a version: every fresh install gets whatever is newest, and results (and APIs such as `torch.load`'s default) change across releases"
        );
        let example = names
            .iter()
            .map(|n| format!("{n}==<the version you ran with>"))
            .collect::<Vec<_>>()
            .join("\n");
        let fix = Fix::new(
            "Pin the versions you trained with (`pip freeze` shows them), or at least bound them",
        )
        .with_example(example);
        let site = first.site.clone();
        let finding = ctx.report_with_severity(&site, RULE.severity, message, Some(fix));
        for entry in unpinned.iter().skip(1) {
            finding
                .evidence
                .push(format!("`{}` on line {}", entry.name, entry.line));
        }
    }
}

/// The folder a requirement file describes: its own, or the parent of a `requirements/`
/// folder.
fn covered_root(file: &RequirementFile) -> Option<&std::path::Path> {
    let dir = file.path.parent()?;
    if dir.file_name().is_some_and(|n| n == "requirements") {
        return dir.parent();
    }
    Some(dir)
}
