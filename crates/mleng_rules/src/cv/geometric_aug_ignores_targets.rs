use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::vision::{TORCHVISION_DENSE_TARGET_DATASETS, TORCHVISION_GEOMETRIC_RANDOM};
use mleng_python::index::literals::dotted;
use mleng_python::index::CallId;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use super::roles::receiving_call;
use super::transforms::{library_of, Library};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV010",
    name: "geometric-aug-ignores-targets",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: None,
    summary: "Random geometric transform applied to the image only, while the sample has boxes, masks or keypoints.",
    docs: r#"## What it does
Finds torchvision v1 random geometric transforms (`RandomHorizontalFlip`, `RandomRotation`,
`RandomAffine`, `RandomResizedCrop`, `RandomCrop`, `RandomPerspective`, ...) in a `Compose`
passed as the image-only `transform=` of
- a torchvision detection/segmentation dataset (`CocoDetection`, `VOCDetection`,
  `VOCSegmentation`, `Cityscapes`, `Kitti`, `WIDERFace`, `SBDataset`);
- or a `Dataset` class in the same file whose `__getitem__` handles boxes, masks or keypoints and
  calls `self.transform(image)` with the image alone.

## Why is this bad?
v1 transforms only see the image. A flipped or cropped image with unflipped boxes or masks is a
wrong label for every augmented sample: the model is trained to predict objects where they are
not, and detection/segmentation accuracy drops, sometimes below training without augmentation.

## Example
```python
train_tf = T.Compose([T.RandomHorizontalFlip(), T.ToTensor()])
dataset = CocoDetection(root, ann_file, transform=train_tf)
```

## Use instead
torchvision v2 transforms on image and target together:
```python
from torchvision.transforms import v2
from torchvision import tv_tensors
train_tf = v2.Compose([v2.ToImage(), v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)])
dataset = wrap_dataset_for_transforms_v2(CocoDetection(root, ann_file, transforms=train_tf))
```
or albumentations with `bbox_params=A.BboxParams(...)` / `mask=`.

## References
- torchvision, "Transforming and augmenting images": v2 transforms "can jointly transform images, videos, bounding boxes, and masks": <https://pytorch.org/vision/stable/transforms.html>
- torchvision, "Transforms v2: End-to-end object detection/segmentation example": <https://pytorch.org/vision/stable/auto_examples/transforms/plot_transforms_e2e.html>
- albumentations, bounding boxes augmentation: <https://albumentations.ai/docs/getting_started/bounding_boxes_augmentation/>
"#,
    check,
};

/// The dataset (by description) that gets this pipeline as its image-only `transform=`.
fn image_only_dense_dataset(ctx: &Context, compose: CallId) -> Option<String> {
    let index = ctx.index;
    let range = index.calls[compose].range();
    let mut receivers: Vec<CallId> = Vec::new();
    if let Some(r) = receiving_call(index, range) {
        if index.calls[r]
            .keyword("transform")
            .is_some_and(|v| v.range() == range)
        {
            receivers.push(r);
        }
    }
    if let Some(binding) = index.bindings.iter().find(|b| b.value.range() == range) {
        for (i, c) in index.calls.iter().enumerate() {
            if c.keyword("transform")
                .and_then(dotted)
                .is_some_and(|d| d == binding.target)
            {
                receivers.push(i);
            }
        }
    }
    for r in receivers {
        let call = &index.calls[r];
        if let Some(q) = call.qualified.as_deref() {
            let short = q.rsplit('.').next().unwrap_or(q);
            if q.starts_with("torchvision.datasets")
                && TORCHVISION_DENSE_TARGET_DATASETS.contains(&short)
            {
                return Some(format!(
                    "`{short}` has boxes/masks as targets, and `transform=` only sees the image"
                ));
            }
            continue;
        }
        let Some(name) = dotted(&call.expr.func) else {
            continue;
        };
        let Some(class) = index.classes.iter().find(|c| c.name == name) else {
            continue;
        };
        let Some(getitem_id) = class
            .methods
            .iter()
            .copied()
            .find(|&m| index.functions[m].name == "__getitem__")
        else {
            continue;
        };
        let body = ctx.text(index.functions[getitem_id].def.range());
        let handles_targets = ["boxes", "bbox", "masks", "mask", "keypoints"]
            .iter()
            .any(|w| body.contains(w));
        let image_only = index.calls.iter().any(|c| {
            c.function == Some(getitem_id)
                && matches!(c.expr.func.as_ref(), Expr::Attribute(a)
                    if matches!(a.attr.as_str(), "transform" | "transforms")
                        && dotted(&a.value).as_deref() == Some("self"))
                && c.expr.arguments.args.len() == 1
                && c.expr.arguments.keywords.is_empty()
        });
        if handles_targets && image_only {
            return Some(format!(
                "`{name}.__getitem__` returns boxes/masks but applies `self.transform` to the image alone"
            ));
        }
    }
    None
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for (id, call) in index.calls.iter().enumerate() {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        if !q.ends_with(".Compose") || library_of(q) != Some(Library::TorchvisionV1) {
            continue;
        }
        let Some(Expr::List(list)) = call.arg(0) else {
            continue;
        };
        let geometric: Vec<_> = list
            .elts
            .iter()
            .filter_map(|e| match e {
                Expr::Call(c) => Some(c),
                _ => None,
            })
            .filter(|c| {
                index.qualified_name(&c.func).is_some_and(|q| {
                    library_of(&q) == Some(Library::TorchvisionV1)
                        && TORCHVISION_GEOMETRIC_RANDOM
                            .contains(&q.rsplit('.').next().unwrap_or(&q))
                })
            })
            .collect();
        let Some(first) = geometric.first() else {
            continue;
        };
        let Some(why) = image_only_dense_dataset(ctx, id) else {
            continue;
        };
        let message = format!(
            "`{}` moves the image but not its boxes/masks: {why}",
            ctx.text(first.range())
        );
        let fix = Fix::new(
            "Transform image and target together: torchvision.transforms.v2 with tv_tensors (and `transforms=`), or albumentations with bbox_params / mask",
        )
        .with_example(
            "from torchvision.transforms import v2\ntf = v2.Compose([v2.ToImage(), v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)])\nimage, target = tf(image, target)  # boxes as tv_tensors.BoundingBoxes, masks as tv_tensors.Mask",
        );
        ctx.report(first.range(), message, Some(fix));
    }
}
