use mleng_diagnostics::{Applicability, Area, Edit, Fix, Severity};
use mleng_knowledge::experiment::TORCH_LOAD_WEIGHTS_ONLY_SINCE;
use mleng_python::index::literals;
use mleng_python::SemanticIndex;
use ruff_python_ast::ExprCall;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "SEC001",
    name: "unsafe-torch-load",
    area: Area::Security,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "`torch.load` unpickles arbitrary objects (`weights_only=False`, or no `weights_only` where torch may be older than 2.6).",
    docs: r#"## What it does
Finds `torch.load(...)` calls that run the full pickle machinery:
- `weights_only=False` written explicitly, anywhere;
- no `weights_only` argument at all, in a project whose requirements (`requirements*.txt`,
  `pyproject.toml`, `environment.yml`) pin or bound PyTorch below 2.6, where the default is
  still `False` (a warning); a pin below 1.13, which has no `weights_only` at all, is an info
  with no mechanical fix (the keyword would raise a `TypeError` there: the advice is to
  upgrade, and until then to load only trusted files);
- no `weights_only` argument where nothing in the project requires PyTorch 2.6 or later (an
  info): the code fully unpickles on every older version it may run on, and maintainers of
  real projects add `weights_only=True` for exactly this reason (facebookresearch/xformers
  #1087, meta-pytorch/torchtune #108, openai/whisper #2451, torchgeo/torchgeo #3893). A
  project that requires `torch>=2.6` is not reported: the default there is `weights_only=True`.

Several such calls in one file are one finding, at the first, with the others as related
locations.

## Fix
Unsafe: `--unsafe-fixes` adds `weights_only=True` (an argument since PyTorch 1.13) keeps the behaviour where the
checkpoint holds tensors and plain containers (a `state_dict`, a dict of them); a checkpoint
that pickles other objects then fails to load with an `UnpicklingError` naming the type to
allow, so the fix changes behaviour there and must be reviewed. Note that on PyTorch 2.5.1 and
earlier the restricted unpickler itself could be bypassed (CVE-2025-32434): upgrade as well.

## Why is this bad?
A `.pt`/`.pth`/`.ckpt` file written by `torch.save` is a pickle. Unpickling calls whatever
callables the file names, so loading a checkpoint downloaded from a model hub, a shared drive
or a pull request runs arbitrary code with your permissions. `weights_only=True` restricts
the unpickler to tensors, primitive containers and an allowlist of types; PyTorch 2.4 started
warning about the unsafe default and PyTorch 2.6 made `weights_only=True` the default
("BC-breaking: flip default of `torch.load(weights_only)`"). Code that still passes
`weights_only=False`, or runs on torch < 2.6 without the argument, keeps the old hazard.

## Example
```python
import torch

checkpoint = torch.load(args.resume, map_location="cpu", weights_only=False)
model.load_state_dict(checkpoint["model"])
```

## Use instead
```python
import torch

checkpoint = torch.load(args.resume, map_location="cpu", weights_only=True)
model.load_state_dict(checkpoint["model"])
```
If the checkpoint holds other objects (an `argparse.Namespace`, a config dataclass), allow
exactly those types with `torch.serialization.add_safe_globals([...])`, or store the weights
as safetensors (`safetensors.torch.save_file` / `load_file`), which cannot run code.

## Known problems
Loading a file you produced yourself in the same run is safe; the rule cannot know where a
path comes from. Suppress with `# noqa: SEC001` where the file is trusted by construction.

## References
- `torch.load` documentation (the `weights_only` argument and its warning): <https://pytorch.org/docs/stable/generated/torch.load.html>
- PyTorch 2.6 release notes, "`torch.load` now uses `weights_only=True` by default": <https://github.com/pytorch/pytorch/releases/tag/v2.6.0>
- PyTorch serialization notes, "weights_only": <https://pytorch.org/docs/stable/notes/serialization.html#weights-only>
- CVE-2025-32434 (`weights_only=True` bypass in PyTorch <= 2.5.1): <https://nvd.nist.gov/vuln/detail/CVE-2025-32434>
- safetensors: <https://huggingface.co/docs/safetensors/index>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in index.calls_resolving(|q| q == "torch.load") {
        let Some(keyword) = call.expr.arguments.keywords.iter().find(|kw| {
            kw.arg
                .as_ref()
                .is_some_and(|a| a.as_str() == "weights_only")
        }) else {
            continue;
        };
        if literals::boolean(&keyword.value) != Some(false) {
            continue;
        }
        let label = call_label(ctx.index, call.expr);
        let message = format!(
            "`{label}` unpickles with `weights_only=False`: a checkpoint from an untrusted source runs arbitrary code when loaded"
        );
        let fix = Fix::new(
            "Load with `weights_only=True` (allow extra types with `torch.serialization.add_safe_globals`), or store the weights as safetensors",
        )
        .with_replacement("weights_only=True");
        // The span is the keyword, so the replacement is mechanical.
        ctx.report(keyword.range(), message, Some(fix));
    }
}

/// The project half: `torch.load` without `weights_only`, unless the project requires torch
/// 2.6 or later (where the default is safe). A pin below 2.6 is a warning; an unknown version
/// (or a range that allows both) is the recommendation to say `weights_only=True` explicitly,
/// which is safe on every version, as an info.
pub(crate) fn check_project(ctx: &mut ProjectContext) {
    for file in ctx.facts.files.iter() {
        if file.torch_loads_without_weights_only.is_empty()
            || ctx
                .facts
                .requirements
                .torch_at_least_2_6(&file.path)
                .is_some()
        {
            continue;
        }
        let pin = ctx.facts.requirements.torch_below_2_6(&file.path);
        let sites = &file.torch_loads_without_weights_only;
        // A pin below 1.13 has no `weights_only` to pass: the advice is an upgrade, and the
        // keyword would raise a `TypeError`, so there is no mechanical fix either.
        let no_keyword = ctx
            .facts
            .requirements
            .torch_below(&file.path, TORCH_LOAD_WEIGHTS_ONLY_SINCE);
        let (severity, why) = match (&pin, &no_keyword) {
            (_, Some(old)) => (
                Severity::Info,
                format!(
                    "the project pins PyTorch below 1.13 (`{}` in {}), which has no `weights_only` and fully unpickles every checkpoint: load only files you trust, and upgrade to pass `weights_only=True`",
                    old.spec,
                    old.file
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().to_string())
                ),
            ),
            (Some(pin), None) => (
                Severity::Warning,
                format!(
                    "the project pins PyTorch below 2.6 (`{}` in {}), where the default is `weights_only=False`: the checkpoint is fully unpickled",
                    pin.spec,
                    pin.file
                        .file_name()
                        .map_or(String::new(), |n| n.to_string_lossy().to_string())
                ),
            ),
            (None, None) => (
                Severity::Info,
                "on PyTorch before 2.6 (nothing in the project requires 2.6 or later) the checkpoint is fully unpickled and can run code; say `weights_only=True` explicitly".to_string(),
            ),
        };
        // One finding per file: a script that loads five checkpoints has one habit to change.
        let [first, rest @ ..] = sites.as_slice() else {
            continue;
        };
        let message = if rest.is_empty() {
            format!("`{}` has no `weights_only` argument: {why}", first.label)
        } else {
            format!(
                "{} `torch.load` calls in this file have no `weights_only` argument (the first: `{}`): {why}",
                sites.len(),
                first.label
            )
        };
        let fix = if no_keyword.is_some() {
            Fix::new("Upgrade PyTorch to 1.13 or later and pass `weights_only=True`; until then, load only checkpoints you trust")
        } else {
            let mut fix = Fix::new(if rest.is_empty() {
                "Pass `weights_only=True` explicitly (or load safetensors)"
            } else {
                "Pass `weights_only=True` explicitly to each (or load safetensors)"
            })
            .with_replacement(add_weights_only(&first.text));
            // One fix for the file's calls: every call in the first one's cell (all of a `.py`).
            for site in sites
                .iter()
                .filter(|s| s.location.cell == first.location.cell)
            {
                if let Some(span) = site.location.span {
                    fix = fix.with_edit(Edit::replace(span, add_weights_only(&site.text)));
                }
            }
            fix
        };
        let finding = ctx.report_with_severity(first, severity, message, Some(fix));
        for site in rest {
            finding.relate(site.location.clone(), format!("also `{}`", site.label));
        }
    }
}

fn add_weights_only(call: &str) -> String {
    crate::context::with_keyword(call, "weights_only=True")
}

/// `torch.load(path, ...)`: the callee and its first argument, for messages.
pub(crate) fn call_label(index: &SemanticIndex, call: &ExprCall) -> String {
    let func = index.text(call.func.range());
    let args = &call.arguments;
    let first = args.args.first().map(|a| index.text(a.range()));
    let more = args.args.len() + args.keywords.len() > usize::from(first.is_some());
    let first = first
        .filter(|t| t.len() <= 60 && !t.contains('\n'))
        .unwrap_or(if first.is_some() { "..." } else { "" });
    match (first.is_empty(), more) {
        (true, true) => format!("{func}(...)"),
        (true, false) => format!("{func}()"),
        (false, true) => format!("{func}({first}, ...)"),
        (false, false) => format!("{func}({first})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_the_keyword() {
        assert_eq!(
            add_weights_only("torch.load(p)"),
            "torch.load(p, weights_only=True)"
        );
        assert_eq!(
            add_weights_only("torch.load(\n    p,\n)"),
            "torch.load(\n    p,\n    weights_only=True,\n)"
        );
    }
}
