use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::vision::{
    torchvision_weights_enum, TORCHVISION_REMOVED_TRANSFORMS, WEIGHTS_API_TORCH,
    WEIGHTS_API_TORCHVISION,
};
use mleng_python::index::literals::boolean;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV006",
    name: "torchvision-deprecated",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "Deprecated or removed torchvision API: `pretrained=True`, `transforms.Scale`, v1 `ToTensor` in a v2 pipeline.",
    docs: r#"## What it does
Finds torchvision APIs that are deprecated or gone, and gives the replacement:
- `models.resnet50(pretrained=True)` -> `models.resnet50(weights=models.ResNet50_Weights.DEFAULT)`
  (`pretrained=False` -> `weights=None`; `pretrained_backbone=` -> `weights_backbone=`), for every
  classification, detection and segmentation builder;
- `transforms.Scale` -> `Resize`, `transforms.RandomSizedCrop` -> `RandomResizedCrop` (deprecated since 0.2, removed in 0.12);
- `transforms.ToTensor()` (v1) inside a `transforms.v2.Compose` -> `v2.ToImage(),
  v2.ToDtype(torch.float32, scale=True)`.

Nothing is said in a project whose requirements pin torchvision below 0.13 (or PyTorch below
1.12, which rules 0.13 out): there `pretrained=` is the API, `weights=` does not exist, and
the code is right for the versions it runs on (MultiBench pins `torchvision==0.9.1`).

## Why is this bad?
`pretrained=` has been deprecated since torchvision 0.13 and warns on every call; it hides which
weights you get (the multi-weight API names them, and `weights.transforms()` gives their exact
preprocessing). `Scale` and `RandomSizedCrop` were removed in 0.12 and fail with
`AttributeError` on current versions. In a v2 pipeline, `ToTensor` is deprecated and does not
pass bounding boxes and masks (`tv_tensors`) through.

## Example
```python
model = torchvision.models.resnet50(pretrained=True)
tf = transforms.Compose([transforms.Scale(256), transforms.RandomSizedCrop(224)])
```

## Use instead
```python
model = torchvision.models.resnet50(weights=torchvision.models.ResNet50_Weights.DEFAULT)
tf = transforms.Compose([transforms.Resize(256), transforms.RandomResizedCrop(224)])
```

## Known problems
`DEFAULT` is the best available weights, which for a few models (ResNet-50, ResNet-101,
MobileNetV3...) is the newer `IMAGENET1K_V2` recipe, not the `IMAGENET1K_V1` weights that
`pretrained=True` loaded. Use `.IMAGENET1K_V1` to reproduce an old result exactly.

## Fix
Unsafe: deprecated arguments and functions are replaced (`pretrained=True` becomes
`weights=...DEFAULT`, `ToTensor()` becomes `ToImage(), ToDtype(torch.float32, scale=True)`).
`DEFAULT` can be newer weights than the legacy `pretrained=True` gave, and the replacement may
use a `torch` name the file must import.

## References
- torchvision, "Multi-weight support API" and the deprecation of `pretrained`: <https://pytorch.org/vision/stable/models.html>
- PyTorch blog, "Introducing TorchVision's New Multi-Weight Support API": <https://pytorch.org/blog/introducing-torchvision-new-multi-weight-support-api/>
- torchvision PR #5386, removal of the deprecated `Scale` and `RandomSizedCrop` (0.12), and issue #5927: <https://github.com/pytorch/vision/pull/5386>, <https://github.com/pytorch/vision/issues/5927>
- torchvision v2 `ToTensor` deprecation ("use `v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])` instead"): <https://pytorch.org/vision/stable/generated/torchvision.transforms.v2.ToTensor.html>
"#,
    check: crate::project::no_file_check,
};

/// Confirms each candidate unless the project pins torchvision below 0.13 (or PyTorch below
/// 1.12, which rules it out): there `pretrained=` is the API and `weights=` does not exist.
pub(crate) fn check_project(ctx: &mut ProjectContext) {
    let candidates: Vec<_> = ctx.candidates().map(|(_, c)| c).collect();
    for candidate in candidates {
        let path = candidate.finding.location.path.as_path();
        let requirements = &ctx.facts.requirements;
        let older = requirements
            .package_below(path, &["torchvision"], WEIGHTS_API_TORCHVISION)
            .or_else(|| requirements.torch_below(path, WEIGHTS_API_TORCH));
        if older.is_none() {
            ctx.confirm(candidate);
        }
    }
}

pub(crate) fn candidates(ctx: &mut Context) {
    let index = ctx.index;
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        if let Some(builder) = q.strip_prefix("torchvision.models.") {
            let builder = builder.rsplit('.').next().unwrap_or(builder);
            // `torchvision.models.__dict__[name](pretrained=...)`: a compatibility fallback for
            // old versions, written on purpose.
            if builder.starts_with('_') || builder.starts_with(|c: char| c.is_ascii_uppercase()) {
                continue;
            }
            let func = ctx.text(call.expr.func.range());
            let prefix = func.strip_suffix(builder).unwrap_or("");
            for kw in &call.expr.arguments.keywords {
                let Some(arg) = kw.arg.as_ref().map(|a| a.as_str()) else {
                    continue;
                };
                let new_arg = match arg {
                    "pretrained" => "weights",
                    "pretrained_backbone" => "weights_backbone",
                    _ => continue,
                };
                // Quantized, video and optical-flow builders have their own enums: use the
                // string form there, which every builder accepts.
                let main_namespace = q.matches('.').count() == 2
                    || q.starts_with("torchvision.models.detection.")
                    || q.starts_with("torchvision.models.segmentation.");
                let enum_name = if arg == "pretrained" && main_namespace {
                    torchvision_weights_enum(builder)
                } else {
                    None
                };
                let value = boolean(&kw.value);
                let replacement = match (value, enum_name) {
                    (Some(false), _) => Some(format!("{new_arg}=None")),
                    (Some(true), Some(e)) if !prefix.is_empty() => {
                        Some(format!("{new_arg}={prefix}{e}.DEFAULT"))
                    }
                    (Some(true), _) => Some(format!("{new_arg}=\"DEFAULT\"")),
                    (None, _) => None,
                };
                let kw_text = ctx.text(kw.range());
                let message = match &replacement {
                    Some(r) if value == Some(false) => format!(
                        "`{kw_text}` is deprecated since torchvision 0.13: use `{r}`"
                    ),
                    Some(r) => format!(
                        "`{kw_text}` is deprecated since torchvision 0.13: use `{r}` (it names the weights, and `.transforms()` on them gives their exact preprocessing)"
                    ),
                    None => format!(
                        "`{kw_text}` is deprecated since torchvision 0.13: pass `{new_arg}=` a weights enum (or None) instead"
                    ),
                };
                let mut fix = Fix::new(format!("Use `{new_arg}=` instead of `{arg}=`"));
                match replacement {
                    Some(r) => fix = fix.with_replacement(r),
                    None => {
                        let e = enum_name.unwrap_or("<Model>_Weights");
                        fix = fix.with_example(format!(
                            "{new_arg}={prefix}{e}.DEFAULT if {} else None",
                            ctx.text(kw.value.range())
                        ));
                    }
                }
                ctx.report(kw.range(), message, Some(fix));
            }
            continue;
        }
        if q.starts_with("torchvision.transforms.") && !q.starts_with("torchvision.transforms.v2") {
            let short = q.rsplit('.').next().unwrap_or(q);
            if let Some((_, new)) = TORCHVISION_REMOVED_TRANSFORMS
                .iter()
                .find(|(old, _)| *old == short)
            {
                let func = ctx.text(call.expr.func.range());
                let new_func = format!("{}{new}", func.strip_suffix(short).unwrap_or(""));
                let args = ctx.text(call.expr.arguments.range());
                let message = format!(
                    "`{func}` was removed in torchvision 0.12 (AttributeError on current versions): use `{new_func}`"
                );
                let fix = Fix::new(format!("Use `{new_func}`"))
                    .with_replacement(format!("{new_func}{args}"));
                ctx.report(call.range(), message, Some(fix));
            }
        }
    }
    // v1 ToTensor inside a v2 Compose.
    for call in &index.calls {
        if call.qualified.as_deref() != Some("torchvision.transforms.v2.Compose") {
            continue;
        }
        let Some(Expr::List(list)) = call.arg(0) else {
            continue;
        };
        for step in &list.elts {
            let Expr::Call(step) = step else {
                continue;
            };
            let Some(q) = index.qualified_name(&step.func) else {
                continue;
            };
            if !(q == "torchvision.transforms.ToTensor"
                || q == "torchvision.transforms.v2.ToTensor")
            {
                continue;
            }
            let compose = ctx.text(call.expr.func.range());
            let v2 = compose.strip_suffix("Compose").unwrap_or("v2.");
            let message = format!(
                "`{}` in a v2 pipeline is deprecated and does not carry tv_tensors (boxes, masks) through: use `{v2}ToImage(), {v2}ToDtype(torch.float32, scale=True)`",
                ctx.text(step.range())
            );
            let fix = Fix::new("Use ToImage + ToDtype(scale=True)").with_replacement(format!(
                "{v2}ToImage(), {v2}ToDtype(torch.float32, scale=True)"
            ));
            ctx.report(step.range(), message, Some(fix));
        }
    }
}
