use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::vision::pretrained_resolution;
use mleng_python::index::literals::{number, numbers, string};
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use super::transforms::{pipelines, pretrained_loads};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV011",
    name: "input-size-vs-weights",
    area: Area::Cv,
    severity: Severity::Info,
    fix: None,
    summary: "Input resolution far (2x or more) from the resolution the pretrained weights were trained at.",
    docs: r#"## What it does
Compares the final size of the file's transform pipelines (the last `Resize`, `CenterCrop`,
`RandomResizedCrop` or `RandomCrop` with a literal size) with the resolution of the pretrained
classification weights loaded in the same file: 224 for most torchvision weights (299 for
Inception-v3, 240-600 for EfficientNets), the `_224` / `_384` suffix of timm names. It reports a
ratio of 2 or more either way (e.g. CIFAR's 32x32 images into ImageNet weights, or 448 crops
into a 224 model), and any mismatch for ViT-style models with absolute position embeddings
(`vit_`, `deit_`, `beit_`, `swin`) unless `img_size=` is passed to `timm.create_model`.

## Why is this bad?
Convolutional features are tuned to the object scales of their training resolution: at half or
a quarter of it, receptive fields cover whole objects and the pretrained filters fire on the
wrong structures, so fine-tuning starts far from a good solution (the "train-test resolution
discrepancy", Touvron et al. 2019). A 32x32 input to an ImageNet ResNet is 7x7 after the stem;
the last stage sees a single pixel. ViTs cannot run at another size at all without
interpolating their position embeddings.

## Example
```python
model = torchvision.models.resnet50(weights=ResNet50_Weights.DEFAULT)
train_tf = T.Compose([T.RandomCrop(32, padding=4), T.ToTensor()])
```

## Use instead
```python
train_tf = T.Compose([T.Resize(224), T.RandomCrop(224, padding=28), T.ToTensor()])
# or for a ViT at 384: timm.create_model("vit_base_patch16_224", pretrained=True, img_size=384)
```

## References
- Touvron et al., "Fixing the train-test resolution discrepancy", NeurIPS 2019: <https://arxiv.org/abs/1906.06423>
- Kolesnikov et al., "Big Transfer (BiT)", resolution rule for transfer: <https://arxiv.org/abs/1912.11370>
- timm, `create_model(..., img_size=)` resamples the pretrained position embeddings when loading (`resample_abs_pos_embed`): <https://github.com/huggingface/pytorch-image-models/blob/main/timm/layers/pos_embed.py>
- torchvision weights, per-model `crop_size`/`resize_size` in `weights.transforms()`: <https://pytorch.org/vision/stable/models.html>
"#,
    check,
};

const SIZE_STEPS: &[&str] = &["Resize", "CenterCrop", "RandomResizedCrop", "RandomCrop"];

fn literal_size(expr: &Expr) -> Option<u32> {
    if let Some(v) = number(expr) {
        return (v >= 1.0).then_some(v as u32);
    }
    let values = numbers(expr)?;
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    (max >= 1.0).then_some(max as u32)
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let loads = pretrained_loads(index);
    if loads.len() != 1 {
        // No pretrained model, or several: we cannot tell which pipeline feeds which.
        return;
    }
    let load = &loads[0];
    let call = &index.calls[load.call];
    let Some(q) = call.qualified.as_deref() else {
        return;
    };
    let timm_name = if q.starts_with("timm.") {
        match call.arg_or_keyword(0, "model_name").and_then(string) {
            Some(name) => Some(name),
            None => return,
        }
    } else {
        None
    };
    let Some(expected) = pretrained_resolution(q, timm_name) else {
        return;
    };
    let absolute_pos = timm_name.is_some_and(|n| {
        ["vit_", "deit_", "beit_", "swin"]
            .iter()
            .any(|p| n.starts_with(p))
    }) && call.keyword("img_size").is_none()
        && call.keyword("dynamic_img_size").is_none();
    for pipeline in pipelines(index) {
        let Some((step, size)) = pipeline.steps.iter().rev().flatten().find_map(|s| {
            let q = index.qualified_name(&s.func)?;
            let short = q.rsplit('.').next()?;
            if !q.starts_with("torchvision.transforms") || !SIZE_STEPS.contains(&short) {
                return None;
            }
            let size = s
                .arguments
                .args
                .first()
                .or_else(|| {
                    s.arguments
                        .keywords
                        .iter()
                        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "size"))
                        .map(|k| &k.value)
                })
                .and_then(literal_size)?;
            Some((s, size))
        }) else {
            continue;
        };
        let ratio = f64::from(size) / f64::from(expected);
        let far = !(0.5..=2.0).contains(&ratio);
        if !(far || (absolute_pos && size != expected)) {
            continue;
        }
        let message = format!(
            "`{}` feeds {size}px images to `{}`, whose weights were trained at {expected}px{}",
            ctx.text(step.range()),
            load.description.trim(),
            if absolute_pos && !far {
                ": a ViT needs its position embeddings interpolated for another size"
            } else {
                ": pretrained features transfer poorly this far from their training resolution"
            }
        );
        let fix = Fix::new(format!(
            "Resize inputs to about {expected}px, or tell the model the new size (timm: `img_size={size}`)"
        ));
        let load_where = ctx.where_is(call.range());
        ctx.report(step.range(), message, Some(fix))
            .evidence
            .push(format!("pretrained weights loaded at {load_where}"));
    }
}
