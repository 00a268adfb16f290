use mleng_diagnostics::{Area, Fix, Severity};

use super::task_advice::{self, reference_lines, Advice};
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV014",
    name: "classification-plain-cross-entropy",
    area: Area::Cv,
    severity: Severity::Info,
    fix: None,
    summary: "An image-classification project trains with plain cross-entropy: no label smoothing and no MixUp/CutMix.",
    docs: r#"## What it does
In an image-classification project that trains (a script with a main guard, a notebook or module-level
training), reports the cross-entropy (`nn.CrossEntropyLoss()`, `F.cross_entropy`) that the training code constructs when the project
uses neither label smoothing (`label_smoothing=` on the loss, timm's
`LabelSmoothingCrossEntropy`/`SoftTargetCrossEntropy`, a `LabelSmoothing*` class) nor MixUp or
CutMix (timm `Mixup`, torchvision `v2.MixUp`/`v2.CutMix`, a `mixup`/`cutmix` function)
anywhere in the project.

The task comes from the same comparison as `mleng recommend --project`: the files the entry
point reaches must show image classification, and only it: an image-classification dataset
(`ImageFolder`, `CIFAR10`, ...), a classification model, or a classification backbone
(`resnet50(...)`, `timm.create_model(...)`) when nothing points to another task; a recurrent or
Transformer decoder (`nn.LSTMCell`, `nn.TransformerDecoder`, `pack_padded_sequence`) makes the
backbone an encoder (image captioning, VQA), not a classifier. Libraries (no training entry
point) are never reported.

Reported once per project, at the loss construction in the entry point or in the file with
the training loop (entry points in folders below one already judged, such as a notebook next
to `train.py`, are the same project). Not reported when the cross-entropy serves another
objective: contrastive/self-supervised InfoNCE, distillation from a teacher, ArcFace-style
margins (names such as `info_nce_loss`, `teacher`, `ArcFace` in the reached files).

## Why is this bad?
With hard one-hot targets, cross-entropy keeps pushing the correct logit away from the others
even once the example is classified, which makes large models over-confident and less
accurate. Label smoothing (0.1) and MixUp/CutMix are cheap, one-line regularisers in every
modern ImageNet recipe: torchvision's recipe update (label smoothing, MixUp, CutMix among
others) took ResNet-50 from 76.1% to 80.9% top-1, and Müller et al. show label smoothing also
improves calibration. They matter most for medium and large data and long schedules; on a
short fine-tuning run the gain is small. Do not smooth the labels of a teacher you will
distil from.

## Example
```python
model = torchvision.models.resnet50(weights="IMAGENET1K_V2")
train_set = torchvision.datasets.ImageFolder("data/train", transform=train_tf)
criterion = nn.CrossEntropyLoss()
```

## Use instead
```python
criterion = nn.CrossEntropyLoss(label_smoothing=0.1)
# and, for longer schedules, MixUp/CutMix on each batch:
from torchvision.transforms import v2
mix = v2.RandomChoice([v2.MixUp(num_classes=num_classes), v2.CutMix(num_classes=num_classes)])
images, labels = mix(images, labels)
```

## References
- Szegedy et al., *Rethinking the Inception Architecture* (label smoothing), CVPR 2016: <https://arxiv.org/abs/1512.00567>
- Müller, Kornblith, Hinton, *When Does Label Smoothing Help?*, NeurIPS 2019: <https://arxiv.org/abs/1906.02629>
- Zhang et al., *mixup: Beyond Empirical Risk Minimization*, ICLR 2018: <https://arxiv.org/abs/1710.09412>
- Yun et al., *CutMix*, ICCV 2019: <https://arxiv.org/abs/1905.04899>
- PyTorch blog, *How to Train State-of-the-Art Models Using TorchVision's Latest Primitives*: <https://pytorch.org/blog/how-to-train-state-of-the-art-models-using-torchvision-latest-primitives/>
- `torch.nn.CrossEntropyLoss` (`label_smoothing`): <https://pytorch.org/docs/stable/generated/torch.nn.CrossEntropyLoss.html>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    task_advice::check(ctx, "classification", false, report);
}

fn report(ctx: &mut ProjectContext, advice: &Advice) {
    let message = format!(
        "classification training uses plain `{}`: no label smoothing and no MixUp/CutMix anywhere in the project; consider `label_smoothing=0.1` (and MixUp/CutMix for longer schedules)",
        advice.trigger.name
    );
    let fix = Fix::new("Smooth the labels (and mix batches for long schedules)")
        .with_example("criterion = nn.CrossEntropyLoss(label_smoothing=0.1)");
    let mut evidence = advice.evidence.clone();
    evidence.extend(reference_lines(advice));
    let finding = ctx.report_with_severity(advice.site, RULE.severity, message, Some(fix));
    finding.evidence.extend(evidence);
}
