use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::{dotted, number};
use ruff_text_size::Ranged;

use super::transforms::pretrained_loads;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV007",
    name: "bgr-to-rgb-model",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary:
        "Images read with cv2.imread (BGR) fed to an RGB-pretrained model without a channel flip.",
    docs: r#"## What it does
Finds `cv2.imread(path)` colour reads in a file that loads RGB-pretrained weights (torchvision
`weights=`/`pretrained=True`, timm `create_model(..., pretrained=True)`, CLIP) and never converts
the channel order: no `cv2.cvtColor(..., cv2.COLOR_BGR2RGB)`, no `[..., ::-1]` / `[:, :, ::-1]`,
no `.flip(...)`, no `[2, 1, 0]` indexing, and no mention of RGB/BGR at all (any such mention
silences the rule for the file). Grayscale reads (`cv2.IMREAD_GRAYSCALE`, `0`) are ignored.

## Why is this bad?
OpenCV returns pixels in BGR order; torchvision, timm and CLIP weights were trained on RGB.
Swapping red and blue does not crash anything: a pretrained classifier typically loses a few
points of top-1 accuracy (more on colour-dependent classes), a frozen backbone gives shifted
features, and the normalization statistics are applied to the wrong channels.

## Example
```python
model = torchvision.models.resnet50(weights=ResNet50_Weights.DEFAULT).eval()
image = cv2.imread(path)
x = preprocess(image)
```

## Use instead
```python
image = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
```

## Fix
Unsafe: `cv2.cvtColor(..., cv2.COLOR_BGR2RGB)` wraps the read. Right for models trained on RGB
(torchvision, timm); wrong for one trained on BGR input.

## References
- OpenCV `imread`, "In the case of color images, the decoded images will have the channels stored in B G R order": <https://docs.opencv.org/4.x/d4/da8/group__imgcodecs.html#ga288b8b3da0892bd651fce07b3bbd3a56>
- torchvision models, inputs are RGB images: <https://pytorch.org/vision/stable/models.html>
- timm, pretrained configs with `mean`/`std` given in RGB order: <https://huggingface.co/docs/timm/quickstart>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let loads = pretrained_loads(index);
    let Some(load) = loads.first() else {
        return;
    };
    let text = index.source.text.to_ascii_lowercase();
    if ["rgb", "bgr", "::-1", "flip", "[2, 1, 0]", "[2,1,0]"]
        .iter()
        .any(|s| text.contains(s))
    {
        return;
    }
    let load_where = ctx.where_is(index.calls[load.call].range());
    for call in &index.calls {
        if call.qualified.as_deref() != Some("cv2.imread") {
            continue;
        }
        if let Some(flags) = call.arg_or_keyword(1, "flags") {
            let colour = dotted(flags).is_some_and(|d| d.ends_with("IMREAD_COLOR"))
                || number(flags) == Some(1.0);
            if !colour {
                continue;
            }
        }
        let func = ctx.text(call.expr.func.range());
        let replacement = func.strip_suffix("imread").map(|cv2| {
            format!(
                "{cv2}cvtColor({}, {cv2}COLOR_BGR2RGB)",
                ctx.text(call.range())
            )
        });
        let message = format!(
            "`{}` returns BGR pixels, and nothing in this file converts them to the RGB order that `{}` was trained on",
            ctx.text(call.range()),
            load.description.trim()
        );
        let mut fix = Fix::new("Convert to RGB right after reading");
        if let Some(r) = replacement {
            fix = fix.with_replacement(r);
        }
        ctx.report(call.range(), message, Some(fix))
            .evidence
            .push(format!("pretrained weights loaded at {load_where}"));
    }
}
