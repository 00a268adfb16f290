use mleng_diagnostics::{Area, Fix, Severity};

use super::task_advice::{self, reference_lines, Advice};
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV012",
    name: "detection-plain-cross-entropy",
    area: Area::Cv,
    severity: Severity::Info,
    fix: None,
    summary: "A detection project trains its classification head with plain cross-entropy and no focal loss.",
    docs: r#"## What it does
In an object-detection project that trains (a script with a main guard, a notebook or module-level
training), reports the plain cross-entropy (`nn.CrossEntropyLoss()`, `F.cross_entropy`) that the training code constructs when no focal
loss (`torchvision.ops.sigmoid_focal_loss`, a `FocalLoss`/`QFocalLoss`/`VarifocalLoss` class, a
RetinaNet or FCOS model) appears anywhere in the project.

The task comes from the same comparison as `mleng recommend --project`: the files the entry
point reaches must show detection, and only detection, by an architecture or dataset signal
(a `Detect`/`DetectionModel` class, a torchvision detection model, `nms`, `CocoDetection`, ...).
Libraries (no training entry point) are never reported.

Reported once per project, at the loss construction in the entry point or in the file with
the training loop (entry points in folders below one already judged, such as a notebook next
to `train.py`, are the same project). Not reported when the cross-entropy serves another
objective: contrastive/self-supervised InfoNCE, distillation from a teacher, ArcFace-style
margins (names such as `info_nce_loss`, `teacher`, `ArcFace` in the reached files).

## Why is this bad?
A dense detector scores 10^4-10^5 anchors or locations per image, almost all of them easy
background. With plain cross-entropy their many small losses dominate the gradient and the
rare foreground is under-trained; Lin et al. measured +2.9 AP on COCO for RetinaNet from
focal loss over a balanced cross-entropy with the same model, and it (or its quality-focal and
varifocal variants) is the classification loss of current one-stage detectors. Two-stage
detectors that sample a balanced set of proposals are less affected; this is advice, not an
error.

## Example
```python
criterion = nn.CrossEntropyLoss()
for images, targets in loader:
    cls_logits, box_deltas = model(images)          # one score per anchor
    loss = criterion(cls_logits.flatten(0, 1), anchor_labels(targets).flatten())
```

## Use instead
```python
from torchvision.ops import sigmoid_focal_loss

for images, targets in loader:
    cls_logits, box_deltas = model(images)
    onehot = F.one_hot(anchor_labels(targets), num_classes).float()
    loss = sigmoid_focal_loss(cls_logits, onehot, alpha=0.25, gamma=2.0, reduction="sum")
    loss = loss / num_foreground.clamp(min=1)
```

## Known problems
DETR-style set-prediction detectors use cross-entropy on matched queries by design (few, not
tens of thousands, of negatives); the advice matters less there.

## References
- Lin et al., *Focal Loss for Dense Object Detection*, ICCV 2017: <https://arxiv.org/abs/1708.02002>
- `torchvision.ops.sigmoid_focal_loss`: <https://pytorch.org/vision/stable/generated/torchvision.ops.sigmoid_focal_loss.html>
- Zhang et al., *VarifocalNet*, CVPR 2021: <https://arxiv.org/abs/2008.13367>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    task_advice::check(ctx, "detection", false, report);
}

fn report(ctx: &mut ProjectContext, advice: &Advice) {
    let message = format!(
        "detection training uses plain `{}` with no focal loss in the project: thousands of easy background anchors per image dominate the loss; consider focal loss for the classification head",
        advice.trigger.name
    );
    let fix = Fix::new("Use sigmoid focal loss for the per-anchor classification").with_example(
        "from torchvision.ops import sigmoid_focal_loss\n\nloss_cls = sigmoid_focal_loss(cls_logits, onehot_targets, alpha=0.25, gamma=2.0, reduction=\"sum\") / num_foreground.clamp(min=1)",
    );
    let mut evidence = advice.evidence.clone();
    evidence.extend(reference_lines(advice));
    let finding = ctx.report_with_severity(advice.site, RULE.severity, message, Some(fix));
    finding.evidence.extend(evidence);
}
