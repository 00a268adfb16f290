use mleng_diagnostics::{Area, Fix, Severity};

use super::task_advice::{self, reference_lines, Advice};
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV013",
    name: "segmentation-cross-entropy-only",
    area: Area::Cv,
    severity: Severity::Info,
    fix: None,
    summary: "A semantic-segmentation project trains with cross-entropy alone, without a Dice (overlap) term.",
    docs: r#"## What it does
In a semantic-segmentation project that trains (a script with a main guard, a notebook or module-level
training), reports the cross-entropy (`nn.CrossEntropyLoss()`, `F.cross_entropy`) that the training code constructs when no Dice
loss (`segmentation_models_pytorch.losses.DiceLoss`, MONAI `DiceLoss`/`DiceCELoss`, a
`DiceLoss` class or `dice_loss` function) appears anywhere in the project.

The task comes from the same comparison as `mleng recommend --project`: the files the entry
point reaches must show semantic segmentation, and only it, by an architecture or dataset
signal (an `smp.Unet`, a torchvision segmentation model, a U-Net/DeepLab class,
`VOCSegmentation`, `Cityscapes`, ...). Libraries (no training entry point) are never reported.
A project that follows the scene-parsing recipe instead (cross-entropy with `ignore_index`
for void pixels, Lovász-softmax) is not reported: on balanced VOC/Cityscapes-style data that
is a sound choice.

Reported once per project, at the loss construction in the entry point or in the file with
the training loop (entry points in folders below one already judged, such as a notebook next
to `train.py`, are the same project). Not reported when the cross-entropy serves another
objective: contrastive/self-supervised InfoNCE, distillation from a teacher, ArcFace-style
margins (names such as `info_nce_loss`, `teacher`, `ArcFace` in the reached files).

## Why is this bad?
Pixel-wise cross-entropy weights every pixel equally, so with a small foreground (lesions,
thin structures, rare classes) the background dominates the loss and the model can score a
low loss while missing the objects; the metric you report (IoU / Dice) is not what is
optimised. Adding a soft Dice term optimises overlap per class directly while cross-entropy
keeps the gradients well-behaved early in training: Dice + CE is the default loss of nnU-Net,
which matched or beat specialised pipelines on 23 public segmentation datasets. This is
advice, not an error.

## Example
```python
model = smp.Unet("resnet34", encoder_weights="imagenet", classes=4)
criterion = nn.CrossEntropyLoss()
loss = criterion(model(images), masks)
```

## Use instead
```python
from segmentation_models_pytorch.losses import DiceLoss

dice = DiceLoss(mode="multiclass")
ce = nn.CrossEntropyLoss()
logits = model(images)
loss = ce(logits, masks) + dice(logits, masks)
```

## References
- Milletari et al., *V-Net* (Dice loss), 3DV 2016: <https://arxiv.org/abs/1606.04797>
- Isensee et al., *nnU-Net*, Nature Methods 2021: <https://arxiv.org/abs/1809.10486>
- segmentation_models_pytorch losses: <https://smp.readthedocs.io/en/latest/losses.html>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    task_advice::check(ctx, "semantic-segmentation", true, report);
}

fn report(ctx: &mut ProjectContext, advice: &Advice) {
    let message = format!(
        "segmentation training uses `{}` alone, with no Dice loss in the project: every pixel weighs the same, so small objects and rare classes are under-weighted; consider Dice + cross-entropy",
        advice.trigger.name
    );
    let fix = Fix::new("Add a Dice term to the cross-entropy").with_example(
        "from segmentation_models_pytorch.losses import DiceLoss\n\ndice = DiceLoss(mode=\"multiclass\")\nloss = criterion(logits, masks) + dice(logits, masks)",
    );
    let mut evidence = advice.evidence.clone();
    evidence.extend(reference_lines(advice));
    let finding = ctx.report_with_severity(advice.site, RULE.severity, message, Some(fix));
    finding.evidence.extend(evidence);
}
