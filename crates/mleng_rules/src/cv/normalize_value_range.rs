use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::string;
use ruff_text_size::Ranged;

use super::transforms::{format_stats, normalize_calls, pipelines, Library};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV002",
    name: "normalize-value-range",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "Normalize statistics are on the 0-255 scale but the images reaching it are on the 0-1 scale (or vice versa).",
    docs: r#"## What it does
Finds `Normalize` statistics written on the wrong scale for the pipeline:
- torchvision `Normalize` with a mean above 1 (e.g. `(123.675, 116.28, 103.53)`) placed after
  `ToTensor()` or `ToDtype(torch.float32, scale=True)` in the same `Compose`, which already
  scaled the image to 0-1;
- albumentations `A.Normalize` with a mean above 1 and the default `max_pixel_value=255`,
  which multiplies the statistics by 255 again.

## Why is this bad?
With 0-255 statistics on 0-1 pixels, every input becomes roughly `-2.1` everywhere: the network
sees almost constant images. Nothing crashes; accuracy collapses or converges far lower.

## Example
```python
tf = T.Compose([T.ToTensor(), T.Normalize(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375))])
```

## Use instead
```python
tf = T.Compose([T.ToTensor(), T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])
```

## Known problems
The opposite mistake, 0-1 statistics on uint8 (0-255) input, fails loudly in torchvision
(`Normalize` raises a `TypeError` on non-float tensors in v1 and v2), so it is not reported. With
albumentations and `max_pixel_value=1.0` it depends on whether the dataset already divided the
image by 255, which the transform alone does not show; we stay silent rather than guess.

## Fix
Unsafe: the statistics are rescaled to match the pipeline's value range. Intended, but a model
trained with the old, wrong statistics sees different inputs.

## References
- `torchvision.transforms.ToTensor` ("converts ... in the range [0, 255] to a torch.FloatTensor ... in the range [0.0, 1.0]"): <https://pytorch.org/vision/stable/generated/torchvision.transforms.ToTensor.html>
- `albumentations.Normalize` (`img = (img - mean * max_pixel_value) / (std * max_pixel_value)`): <https://albumentations.ai/docs/api-reference/augmentations/transforms/#Normalize>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let norms = normalize_calls(index);
    let pipes = pipelines(index);
    for norm in &norms {
        let (Some(mean), Some(std)) = (&norm.mean, &norm.std) else {
            continue;
        };
        if !mean.iter().any(|v| *v > 1.0) {
            continue;
        }
        let call = &index.calls[norm.call];
        let scaled_mean: Vec<f64> = mean.iter().map(|v| round3(v / 255.0)).collect();
        let scaled_std: Vec<f64> = std.iter().map(|v| round3(v / 255.0)).collect();
        let callee = ctx.text(call.expr.func.range()).to_string();
        match norm.library {
            Library::Albumentations => {
                if norm.max_pixel_value.is_some_and(|m| m <= 1.0) {
                    continue;
                }
                let message = format!(
                    "`{callee}` gets mean={} on the 0-255 scale, but albumentations multiplies mean and std by max_pixel_value=255: pass statistics on the 0-1 scale or max_pixel_value=1.0",
                    format_stats(mean)
                );
                let fix =
                    Fix::new("Give the statistics on the 0-1 scale").with_replacement(format!(
                        "{callee}(mean={}, std={})",
                        format_stats(&scaled_mean),
                        format_stats(&scaled_std)
                    ));
                ctx.report(call.range(), message, Some(fix));
            }
            Library::TorchvisionV1 | Library::TorchvisionV2 => {
                let Some(scaler) = pipes.iter().find_map(|p| {
                    let pos = p
                        .steps
                        .iter()
                        .position(|s| s.is_some_and(|s| s.range() == call.range()))?;
                    let at = p.steps[..pos]
                        .iter()
                        .rposition(|s| s.is_some_and(|s| scales_to_unit(ctx, s)))?;
                    // A step in between that is not a known transform (a `lambda x: 255.0 *
                    // x[:3]`, `T.Lambda(...)`, a function of the project) may rescale: DINOv2's
                    // depth notebook multiplies by 255 there.
                    let unknown_between = p.steps[at + 1..pos].iter().any(|s| match s {
                        None => true,
                        Some(c) => ctx.text(c.func.range()).ends_with("Lambda"),
                    });
                    (!unknown_between).then_some(p.steps[at]).flatten()
                }) else {
                    continue;
                };
                let message = format!(
                    "`{callee}` uses statistics on the 0-255 scale (mean={}), but `{}` earlier in the pipeline already scaled the image to 0-1",
                    format_stats(mean),
                    ctx.text(scaler.range())
                );
                let fix = Fix::new("Divide the statistics by 255").with_replacement(format!(
                    "{callee}(mean={}, std={})",
                    format_stats(&scaled_mean),
                    format_stats(&scaled_std)
                ));
                ctx.report(call.range(), message, Some(fix));
            }
            Library::Functional => {}
        }
    }
}

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// `ToTensor()`, or `ToDtype(torch.float32, scale=True)` / `ConvertImageDtype(torch.float)`.
fn scales_to_unit(ctx: &Context, call: &ruff_python_ast::ExprCall) -> bool {
    let Some(q) = ctx.index.qualified_name(&call.func) else {
        return false;
    };
    let short = q.rsplit('.').next().unwrap_or(&q);
    match short {
        "ToTensor" | "ConvertImageDtype" => true,
        "ToDtype" => call.arguments.keywords.iter().any(|k| {
            k.arg.as_ref().is_some_and(|a| a.as_str() == "scale")
                && matches!(&k.value, ruff_python_ast::Expr::BooleanLiteral(b) if b.value)
        }),
        _ => {
            let _ = string;
            false
        }
    }
}
