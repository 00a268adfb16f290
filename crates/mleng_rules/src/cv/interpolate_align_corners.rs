use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::string;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV009",
    name: "interpolate-align-corners",
    area: Area::Cv,
    severity: Severity::Info,
    fix: Some(Applicability::Safe),
    summary: "Bilinear/bicubic F.interpolate or nn.Upsample without an explicit align_corners.",
    docs: r#"## What it does
Finds `F.interpolate(..., mode="bilinear"|"bicubic"|"trilinear"|"linear")` and
`nn.Upsample(mode=...)` with one of those modes that leave `align_corners` unset.

## Why is this bad?
`align_corners=True` and `False` sample different pixel positions: the output is shifted by up
to half an input pixel, which matters for dense prediction (segmentation, keypoints, optical
flow) and whenever weights, reference outputs or exported graphs come from another framework or
another version. PyTorch changed the default to `False` in 0.4.0; models ported from TensorFlow
or Caffe (DeepLab, PSPNet, many keypoint nets) were trained with `True`. Writing it out states
which one the weights expect, and ONNX export records it explicitly either way.

## Example
```python
logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear")
```

## Use instead
```python
logits = F.interpolate(logits, size=image.shape[-2:], mode="bilinear", align_corners=False)
```

## Fix
Safe: `align_corners=False` is written out, which is the default since PyTorch 0.4: behaviour
does not change, it becomes explicit.

## References
- `torch.nn.functional.interpolate`, `align_corners` (default `True` up to 0.3.1, `False` since; the warning box explains the two samplings): <https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html>
- `torch.nn.Upsample` (illustration of the two samplings): <https://pytorch.org/docs/stable/generated/torch.nn.Upsample.html>
"#,
    check,
};

const LINEAR_MODES: &[&str] = &["bilinear", "bicubic", "trilinear", "linear"];

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in &index.calls {
        let (mode_pos, align_pos) = match call.qualified.as_deref() {
            Some("torch.nn.functional.interpolate" | "torch.nn.functional.upsample") => (3, 4),
            Some("torch.nn.Upsample") => (2, 3),
            _ => continue,
        };
        let Some(mode) = call.arg_or_keyword(mode_pos, "mode").and_then(string) else {
            continue;
        };
        if !LINEAR_MODES.contains(&mode)
            || call.arg_or_keyword(align_pos, "align_corners").is_some()
            || call.expr.arguments.keywords.iter().any(|k| k.arg.is_none())
        {
            continue;
        }
        let func = ctx.text(call.expr.func.range());
        let args = ctx.text(call.expr.arguments.range());
        let inner = args
            .strip_prefix('(')
            .and_then(|a| a.strip_suffix(')'))
            .unwrap_or("")
            .trim()
            .trim_end_matches(',');
        let message = format!(
            "`{func}(..., mode=\"{mode}\")` leaves align_corners implicit (False since PyTorch 0.4): state which sampling the weights expect"
        );
        let fix = Fix::new("State align_corners explicitly (False keeps today's behaviour)")
            .with_replacement(format!("{func}({inner}, align_corners=False)"));
        ctx.report(call.range(), message, Some(fix));
    }
}
