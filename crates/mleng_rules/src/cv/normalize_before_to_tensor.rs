use mleng_diagnostics::{Area, Fix, Severity};
use ruff_text_size::Ranged;

use super::transforms::pipelines;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV003",
    name: "normalize-before-to-tensor",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "Normalize placed before ToTensor/ToImage in a torchvision Compose.",
    docs: r#"## What it does
Finds a torchvision `Compose` in which `Normalize` comes before `ToTensor()` (v1) or before
`ToImage()` / `ToDtype(..., scale=True)` (v2).

## Why is this bad?
`Normalize` works on float tensors on the 0-1 scale. Before `ToTensor` the image is still a PIL
image (v1 raises `TypeError` on the first batch, after your data loader workers have started);
in v2, normalizing before the dtype conversion normalizes integer pixel values.

## Example
```python
tf = T.Compose([T.Resize(256), T.Normalize(mean, std), T.ToTensor()])
```

## Use instead
```python
tf = T.Compose([T.Resize(256), T.ToTensor(), T.Normalize(mean, std)])
```

## References
- torchvision transforms, "Normalize ... This transform does not support PIL Image": <https://pytorch.org/vision/stable/generated/torchvision.transforms.Normalize.html>
- torchvision v2 getting started (ToImage, ToDtype(scale=True), then Normalize): <https://pytorch.org/vision/stable/transforms.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for pipeline in pipelines(index) {
        let named: Vec<(usize, String)> = pipeline
            .steps
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let q = index.qualified_name(&s.as_ref()?.func)?;
                q.starts_with("torchvision.transforms")
                    .then(|| (i, q.rsplit('.').next().unwrap_or(&q).to_string()))
            })
            .collect();
        let Some(&(norm_pos, _)) = named.iter().find(|(_, n)| n == "Normalize") else {
            continue;
        };
        let Some(&(conv_pos, ref conv_name)) = named.iter().find(|(i, n)| {
            *i > norm_pos && (n == "ToTensor" || n == "ToImage" || n == "PILToTensor")
        }) else {
            continue;
        };
        let (Some(norm), Some(conv)) = (pipeline.steps[norm_pos], pipeline.steps[conv_pos]) else {
            continue;
        };
        let norm_text = ctx.text(norm.range()).to_string();
        let conv_text = ctx.text(conv.range()).to_string();
        let message = format!(
            "`{norm_text}` runs before `{conv_text}`: Normalize needs a float tensor, and {conv_name} only produces one afterwards"
        );
        let fix = Fix::new(format!("Move `{conv_text}` before Normalize"))
            .with_example(format!("T.Compose([..., {conv_text}, {norm_text}])"));
        ctx.report(norm.range(), message, Some(fix));
    }
}
