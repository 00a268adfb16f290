use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::normalization::{matches, Expectation};
use ruff_text_size::Ranged;

use super::transforms::{format_stats, normalize_calls, pretrained_loads, Library};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV001",
    name: "pretrained-normalization-mismatch",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary:
        "Normalize statistics do not match what the loaded pretrained weights were trained with.",
    docs: r#"## What it does
Compares the literal statistics of `Normalize(mean, std)` (torchvision v1 and v2,
`transforms.functional.normalize`, albumentations `A.Normalize`) with what the pretrained weights
loaded in the same file expect:
- torchvision classification and segmentation weights (`weights=...`, `pretrained=True`):
  ImageNet, mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225);
- timm `create_model(name, pretrained=True)`: the statistics of the architecture's default tag in
  timm's own configuration, which are **not** always ImageNet's: many ViT (augreg), BEiT and
  Inception-style models use 0.5/0.5, CLIP models use (0.4815, 0.4578, 0.4082)/(0.2686, 0.2613, 0.2758);
- OpenAI CLIP (`clip.load`, `transformers.CLIP*`): the CLIP statistics;
- torchvision detection models normalize inside the model, so an extra `Normalize` applies the
  statistics twice.

It says nothing when no pretrained weights are loaded, or when it does not know the weights'
statistics (a timm name with an explicit tag, a model name that is not a literal).

## Why is this bad?
The first layers of a pretrained network are tuned to inputs with the statistics it was trained
on. Shifted inputs do not crash anything; they cost accuracy at the start of fine-tuning and, in
frozen-backbone or zero-shot use, permanently.

## Example
```python
model = timm.create_model("vit_base_patch16_224", pretrained=True)
tf = T.Compose([T.Resize(224), T.ToTensor(),
                T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))])
```

## Use instead
Take the statistics from the weights themselves:
```python
model = timm.create_model("vit_base_patch16_224", pretrained=True)
config = timm.data.resolve_data_config({}, model=model)
tf = timm.data.create_transform(**config)  # mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5)
```
For torchvision, `weights = ResNet50_Weights.DEFAULT; tf = weights.transforms()`.

## Fix
Unsafe: the normalization statistics are replaced by the weights' own. The input distribution
changes, as intended; a model already fine-tuned with the old statistics must be retrained or
keep them.

## References
- torchvision models, "all pre-trained models expect input images normalized in the same way": <https://pytorch.org/vision/stable/models.html>
- timm `resolve_data_config` and each model's `pretrained_cfg` (`mean`, `std`): <https://huggingface.co/docs/timm/quickstart#image-augmentation>; table in `crates/mleng_knowledge/data/timm_normalization.tsv` (timm 1.0.15).
- OpenAI CLIP preprocessing, `clip/clip.py` `_transform`: <https://github.com/openai/CLIP/blob/main/clip/clip.py>
- torchvision detection `GeneralizedRCNNTransform` (normalizes internally): <https://github.com/pytorch/vision/blob/main/torchvision/models/detection/transform.py>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let loads = pretrained_loads(index);
    if loads.is_empty() || loads.iter().any(|l| l.expectation.is_none()) {
        // Nothing pretrained, or something pretrained whose statistics we do not know.
        return;
    }
    let all_internal = loads
        .iter()
        .all(|l| l.expectation == Some(Expectation::Internal));
    for norm in normalize_calls(index) {
        let (Some(mean), Some(std)) = (&norm.mean, &norm.std) else {
            continue;
        };
        // Statistics on the 0-255 scale are CV002's business.
        if mean.iter().any(|v| *v > 1.0) && norm.library != Library::Albumentations {
            continue;
        }
        let call = &index.calls[norm.call];
        let first_load = &loads[0];
        let load_where = ctx.where_is(index.calls[first_load.call].range());
        if all_internal {
            let message = format!(
                "`{}` normalizes inputs for `{}`, a torchvision detection model that normalizes inside the model (GeneralizedRCNNTransform): the statistics are applied twice",
                ctx.text(call.range()),
                first_load.description.trim()
            );
            let fix = Fix::new(
                "Remove Normalize and feed 0-1 float images; the model normalizes them itself",
            );
            ctx.report(call.range(), message, Some(fix))
                .evidence
                .push(format!("model loaded at {load_where}"));
            continue;
        }
        let expected: Vec<_> = loads
            .iter()
            .filter_map(|l| match l.expectation {
                Some(Expectation::Stats(stats)) => Some((l, stats)),
                _ => None,
            })
            .collect();
        if expected
            .iter()
            .any(|(_, stats)| matches(mean, &stats.mean) && matches(std, &stats.std))
        {
            continue;
        }
        let Some((load, stats)) = expected.first() else {
            continue;
        };
        let message = format!(
            "Normalize(mean={}, std={}) does not match the {} statistics that `{}` was trained with (mean={}, std={})",
            format_stats(mean),
            format_stats(std),
            stats.name,
            load.description.trim(),
            format_stats(&stats.mean),
            format_stats(&stats.std),
        );
        let callee = ctx.text(call.expr.func.range()).to_string();
        let replacement = match norm.library {
            Library::Functional => None,
            _ => Some(format!("{callee}({})", stats.constant)),
        };
        let mut fix = Fix::new(format!(
            "Use the weights' own statistics ({}); better, take them from the weights (`weights.transforms()` or `timm.data.resolve_data_config({{}}, model=model)`)",
            stats.name
        ));
        if let Some(replacement) = replacement {
            fix = fix.with_replacement(replacement);
        }
        let where_load = ctx.where_is(index.calls[load.call].range());
        ctx.report(call.range(), message, Some(fix))
            .evidence
            .push(format!("pretrained weights loaded at {where_load}"));
    }
}
