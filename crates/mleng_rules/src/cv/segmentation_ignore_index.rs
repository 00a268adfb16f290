use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::vision::{is_label_map_name, is_mask_name, name_words};
use mleng_python::index::literals::number;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV008",
    name: "segmentation-ignore-index",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary:
        "Label maps with a 255 void label trained with cross-entropy that has no ignore_index.",
    docs: r#"## What it does
Finds `nn.CrossEntropyLoss(...)` / `F.cross_entropy(...)` without `ignore_index` in a file whose
label maps contain the void label 255:
- it loads `torchvision.datasets.VOCSegmentation`, `Cityscapes` or `SBDataset`, whose targets mark
  boundaries / unlabeled pixels with 255;
- or it defines `ignore_label = 255` / `void_index = 255` / `IGNORE_INDEX = 255`;
- or it writes 255 into a label map (`label[~valid] = 255`).

It stays silent when the file remaps 255 to a real class (`mask[mask == 255] = 0`).

## Why is this bad?
`CrossEntropyLoss` ignores `-100` by default, not 255. With 21 VOC classes a target of 255 makes
CUDA kernels fail with a device-side assert (`t >= 0 && t < n_classes`); on CPU it raises
`IndexError`; with `num_classes > 255` it silently trains every boundary pixel as class 255.
The standard VOC/Cityscapes recipes pass `ignore_index=255`.

## Example
```python
train_set = VOCSegmentation("data", image_set="train", transforms=joint_tf)
criterion = nn.CrossEntropyLoss()
```

## Use instead
```python
criterion = nn.CrossEntropyLoss(ignore_index=255)
```

## Fix
Unsafe: `ignore_index=255` is added to the loss. The loss values change, as intended, only if
255 really is the void label of your data.

## References
- `torch.nn.CrossEntropyLoss`, `ignore_index` (default -100): <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
- torchvision reference segmentation training, `criterion(..., ignore_index=255)`: <https://github.com/pytorch/vision/blob/main/references/segmentation/train.py>
- PASCAL VOC 2012 devkit, "border and difficult pixels are labelled 255 (void)": <http://host.robots.ox.ac.uk/pascal/VOC/voc2012/htmldoc/devkit_doc.html>
- Cityscapes scripts, `ignoreInEval` classes mapped to trainId 255: <https://github.com/mcordts/cityscapesScripts/blob/master/cityscapesscripts/helpers/labels.py>
"#,
    check,
};

/// Why we believe this file's label maps contain 255, or `None`.
fn void_label_evidence(ctx: &Context) -> Option<String> {
    let index = ctx.index;
    // A remap of 255 to a real class: the loss never sees 255.
    let remapped = index.bindings.iter().any(|b| {
        let last = b.target.rsplit('.').next().unwrap_or(&b.target);
        (is_label_map_name(last) || is_mask_name(last))
            && number(b.value).is_some_and(|v| v != 255.0)
            && ctx.text(b.range).contains("255")
    });
    if remapped {
        return None;
    }
    for call in &index.calls {
        if let Some(q) = call.qualified.as_deref() {
            let short = q.rsplit('.').next().unwrap_or(q);
            if q.starts_with("torchvision.datasets")
                && matches!(short, "VOCSegmentation" | "Cityscapes" | "SBDataset")
            {
                return Some(format!(
                    "`{short}` targets mark void pixels with 255 ({})",
                    ctx.where_is(call.range())
                ));
            }
        }
    }
    for b in &index.bindings {
        if number(b.value) != Some(255.0) {
            continue;
        }
        let last = b.target.rsplit('.').next().unwrap_or(&b.target);
        let words = name_words(last);
        let named_void = words
            .iter()
            .any(|w| matches!(w.as_str(), "ignore" | "void"))
            && words.iter().any(|w| {
                matches!(
                    w.as_str(),
                    "label" | "index" | "idx" | "id" | "value" | "class"
                )
            });
        let written = (is_label_map_name(last) || is_mask_name(last))
            && ctx
                .text(b.range)
                .trim_start()
                .starts_with(&format!("{}[", b.target));
        if named_void || written {
            return Some(format!(
                "`{}` sets the void label 255 ({})",
                ctx.text(b.range).trim(),
                ctx.where_is(b.range)
            ));
        }
    }
    None
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let losses: Vec<_> = index
        .calls
        .iter()
        .filter(|c| {
            matches!(
                c.qualified.as_deref(),
                Some("torch.nn.CrossEntropyLoss" | "torch.nn.functional.cross_entropy")
            )
        })
        .filter(|c| {
            c.keyword("ignore_index").is_none()
                && !c.expr.arguments.keywords.iter().any(|k| k.arg.is_none())
                && !c
                    .expr
                    .arguments
                    .args
                    .iter()
                    .any(|a| matches!(a, Expr::Starred(_)))
        })
        .collect();
    if losses.is_empty() {
        return;
    }
    let Some(evidence) = void_label_evidence(ctx) else {
        return;
    };
    for call in losses {
        let text = ctx.text(call.range());
        let func = ctx.text(call.expr.func.range());
        let args = ctx.text(call.expr.arguments.range());
        let inner = args
            .strip_prefix('(')
            .and_then(|a| a.strip_suffix(')'))
            .unwrap_or("")
            .trim()
            .trim_end_matches(',');
        let replacement = if inner.is_empty() {
            format!("{func}(ignore_index=255)")
        } else {
            format!("{func}({inner}, ignore_index=255)")
        };
        let message = format!(
            "`{text}` has no ignore_index, but this file's label maps contain the void label 255: the loss trains on (or crashes on) void pixels; pass ignore_index=255"
        );
        let fix = Fix::new("Ignore the void label in the loss").with_replacement(replacement);
        ctx.report(call.range(), message, Some(fix))
            .evidence
            .push(evidence.clone());
    }
}
