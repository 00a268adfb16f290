use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_knowledge::vision::{is_label_map_name, is_mask_name};
use mleng_python::index::literals::{dotted, string};
use mleng_python::index::Call;
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::{Ranged, TextRange};

use super::roles::base_variable;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "CV005",
    name: "mask-interpolation",
    area: Area::Cv,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary:
        "Segmentation label map resized with bilinear/bicubic interpolation, or scaled by ToTensor.",
    docs: r#"## What it does
Finds segmentation label maps (variables named `label`, `seg_map`, `semseg`, ..., or a `mask` /
`gt` read from an annotation file with `cv2.imread` / `Image.open` in the same function of a file
that trains with multi-class cross-entropy and never thresholds it after resizing; never
`pred_mask`, `mask_logits`, `attention_mask`, or a result bound to `logits` / `probs`) that are
- resized with `F.interpolate(..., mode="bilinear"|"bicubic"|"area"|...)`;
- resized with `cv2.resize` without `interpolation=cv2.INTER_NEAREST` (OpenCV's default is
  bilinear);
- resized with torchvision's v1 `TF.resize` without `interpolation=NEAREST` (default bilinear);
- resized with PIL's `label.resize(size)` when the image is known not to be a palette image
  (`.convert("L")`, `Image.fromarray(array)`): Pillow's default filter is then BICUBIC; or with an
  explicit `Image.BILINEAR` / `Image.BICUBIC` / `Image.LANCZOS` filter. A palette ("P") PNG opened
  as is (VOC's masks) is always resized with NEAREST by Pillow, so `label.resize(size)` on an
  image whose mode we cannot see is not reported;
- converted with `to_tensor` / `ToTensor()`, which divides by 255;
- or transformed by a `target_transform` / `mask_transform` pipeline of a segmentation dataset
  that contains `Resize` without nearest interpolation, `ToTensor` or `Normalize`.

Interpolations followed by a threshold (`.gt(0.5)`, `> 0.5`, `.round()`) are binary-mask
resizing done right and are not reported.

## Why is this bad?
A label map holds class ids, not intensities. Bilinear interpolation between class 3 and class 15
produces 9 at the boundary: a class that is not there. Every object boundary gets a rim of wrong
labels (or fractional values that `.long()` truncates), which the loss then trains on and the
metrics score against. `ToTensor` turns class 1 into 0.0039 and `.long()` makes it background.

## Example
```python
mask = cv2.resize(mask, (512, 512))
mask = F.interpolate(mask[None, None].float(), size=(h, w), mode="bilinear")
label = Image.open(label_path).convert("L").resize((512, 512))
```

## Use instead
```python
mask = cv2.resize(mask, (512, 512), interpolation=cv2.INTER_NEAREST)
mask = F.interpolate(mask[None, None].float(), size=(h, w), mode="nearest")
label = Image.open(label_path).convert("L").resize((512, 512), resample=Image.NEAREST)
```
or `torchvision.transforms.v2` with `tv_tensors.Mask`, which resizes masks with nearest
interpolation automatically, or albumentations with `mask=` (nearest for masks by default).

## Fix
Unsafe: the label map is resized with nearest-neighbour interpolation (or converted with
`PILToTensor`/`torch.as_tensor` instead of `to_tensor`). The replacement may use `np`/`torch`
names the file must import; the training targets change, as intended.

## References
- OpenCV `cv2.resize`, `interpolation` defaults to `INTER_LINEAR`: <https://docs.opencv.org/4.x/da/d54/group__imgproc__transform.html#ga47a974309e9102f5f08231edc7e7529d>
- torchvision v2 transforms, `tv_tensors.Mask` resized with `InterpolationMode.NEAREST`: <https://pytorch.org/vision/stable/auto_examples/transforms/plot_transforms_getting_started.html>
- Pillow `Image.resize`: "If the image has mode "1" or "P", it is always set to `Resampling.NEAREST`. [...] Otherwise, the default filter is `Resampling.BICUBIC`" (the default changed from NEAREST to BICUBIC in Pillow 7.0.0): <https://pillow.readthedocs.io/en/stable/reference/Image.html#PIL.Image.Image.resize>, <https://pillow.readthedocs.io/en/stable/releasenotes/7.0.0.html#default-resampling-filter>
- `torch.nn.functional.interpolate` modes: <https://pytorch.org/docs/stable/generated/torch.nn.functional.interpolate.html>
- torchvision reference segmentation training, targets resized with `InterpolationMode.NEAREST` and converted with `PILToTensor`: <https://github.com/pytorch/vision/blob/main/references/segmentation/transforms.py>
"#,
    check,
};

const SMOOTH_MODES: &[&str] = &["bilinear", "bicubic", "trilinear", "linear", "area"];

/// The label-map variable passed as the call's first argument, if any: a name such as
/// `label` or `seg_map`, or a `mask` read from an annotation file in the same function; and the
/// result is not bound to a name such as `logits` or `probs`.
fn label_map_arg(ctx: &Context, call: &Call) -> Option<String> {
    label_map_expr(ctx, call, call.arg(0)?)
}

/// [`label_map_arg`] for any expression of the call (the receiver of `label.resize(...)`).
fn label_map_expr(ctx: &Context, call: &Call, expr: &Expr) -> Option<String> {
    let index = ctx.index;
    let name = base_variable(expr)?;
    let result = index
        .bindings
        .iter()
        .find(|b| b.value.range() == call.range())
        .map(|b| b.target.as_str());
    if result.is_some_and(|r| !is_label_map_name(r) && !is_mask_name(r)) {
        return None;
    }
    if is_label_map_name(&name) {
        return Some(name);
    }
    if !is_mask_name(&name) {
        return None;
    }
    // A `mask` may be a binary 0/255 mask (thresholded afterwards, trained with BCE): only a
    // file that trains multi-class cross-entropy makes it a label map of class ids, and a
    // threshold after the resize makes smooth interpolation harmless.
    let multiclass = index.calls.iter().any(|c| {
        matches!(
            c.qualified.as_deref(),
            Some("torch.nn.CrossEntropyLoss" | "torch.nn.functional.cross_entropy")
        )
    });
    if !multiclass || thresholded_later(ctx, call, &name) {
        return None;
    }
    let read_from_file = index.bindings.iter().any(|b| {
        b.target == name
            && b.function == call.function
            && b.range.start() < call.start()
            && [
                "imread",
                "Image.open",
                "read_image",
                "decode_png",
                "decode_image",
            ]
            .iter()
            .any(|reader| ctx.text(b.value.range()).contains(reader))
    });
    read_from_file.then_some(name)
}

/// `cv2.threshold(mask, ...)`, `mask > 127`, `(mask > 0.5)` after the call in the same function.
fn thresholded_later(ctx: &Context, call: &Call, name: &str) -> bool {
    let Some(function) = call.function else {
        return false;
    };
    let body_end = ctx.index.functions[function].def.range().end();
    let after = ctx
        .index
        .source
        .text
        .get(usize::from(call.range().end())..usize::from(body_end))
        .unwrap_or("");
    after.contains("threshold(")
        || [">", ">="].iter().any(|op| {
            after.contains(&format!("{name} {op}")) || after.contains(&format!("{name}{op}"))
        })
}

/// `F.interpolate(...)[0].gt_(0.5)`, `F.interpolate(...) > 0.5`: a binary mask thresholded after
/// smooth resizing.
fn thresholded(ctx: &Context, range: TextRange) -> bool {
    let text = &ctx.index.source.text;
    let mut rest = text.get(usize::from(range.end())..).unwrap_or("");
    loop {
        rest = rest.trim_start_matches([' ', ')']);
        if let Some(inner) = rest.strip_prefix('[') {
            let Some(end) = inner.find(']') else {
                break;
            };
            rest = &inner[end + 1..];
        } else {
            break;
        }
    }
    [
        ".gt",
        ".ge",
        ".round",
        ">",
        ".sigmoid",
        ".argmax",
        ".threshold",
    ]
    .iter()
    .any(|p| rest.starts_with(p))
}

fn keyword_range(call: &ExprCall, name: &str) -> Option<TextRange> {
    call.arguments
        .keywords
        .iter()
        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == name))
        .map(|k| k.range())
}

/// The call's text with keyword `name` replaced by `new` (or appended), and `drop` removed.
fn with_keyword(ctx: &Context, call: &ExprCall, name: &str, new: &str, drop: &[&str]) -> String {
    let mut parts: Vec<String> = call
        .arguments
        .args
        .iter()
        .map(|a| ctx.text(a.range()).to_string())
        .collect();
    let mut replaced = false;
    for k in &call.arguments.keywords {
        let arg = k.arg.as_ref().map(|a| a.as_str());
        if arg == Some(name) {
            parts.push(new.to_string());
            replaced = true;
        } else if !arg.is_some_and(|a| drop.contains(&a)) {
            parts.push(ctx.text(k.range()).to_string());
        }
    }
    if !replaced {
        parts.push(new.to_string());
    }
    format!("{}({})", ctx.text(call.func.range()), parts.join(", "))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        match q {
            "torch.nn.functional.interpolate" | "torch.nn.functional.upsample" => {
                let Some(mask) = label_map_arg(ctx, call) else {
                    continue;
                };
                let Some(mode) = call.arg_or_keyword(3, "mode").and_then(string) else {
                    continue;
                };
                if !SMOOTH_MODES.contains(&mode) || thresholded(ctx, call.range()) {
                    continue;
                }
                let message = format!(
                    "`{mask}` looks like a label map but is resized with mode=\"{mode}\": class ids get averaged into ids that are not there at every boundary; use mode=\"nearest\""
                );
                let mut fix = Fix::new("Resize label maps with nearest interpolation");
                if keyword_range(call.expr, "mode").is_some() {
                    fix = fix.with_replacement(with_keyword(
                        ctx,
                        call.expr,
                        "mode",
                        "mode=\"nearest\"",
                        &["align_corners", "antialias"],
                    ));
                }
                ctx.report(call.range(), message, Some(fix));
            }
            "cv2.resize" => {
                let Some(mask) = label_map_arg(ctx, call) else {
                    continue;
                };
                let interpolation = call.arg_or_keyword(5, "interpolation");
                if let Some(i) = interpolation {
                    // Nearest, or a value we cannot read (a variable, an int): say nothing.
                    match dotted(i) {
                        Some(d) if d.contains("INTER_") && !d.contains("NEAREST") => {}
                        _ => continue,
                    }
                }
                let how = match interpolation {
                    Some(i) => format!("with `{}`", ctx.text(i.range())),
                    None => "with OpenCV's default bilinear interpolation".to_string(),
                };
                let func = ctx.text(call.expr.func.range());
                let cv2 = func.strip_suffix("resize").unwrap_or("cv2.");
                let message = format!(
                    "`{mask}` looks like a label map but `{func}` resizes it {how}: boundary pixels get ids of classes that are not there; pass interpolation={cv2}INTER_NEAREST"
                );
                let fix = Fix::new("Resize label maps with nearest interpolation")
                    .with_replacement(with_keyword(
                        ctx,
                        call.expr,
                        "interpolation",
                        &format!("interpolation={cv2}INTER_NEAREST"),
                        &[],
                    ));
                ctx.report(call.range(), message, Some(fix));
            }
            "torchvision.transforms.functional.resize" => {
                let Some(mask) = label_map_arg(ctx, call) else {
                    continue;
                };
                let interpolation = call.arg_or_keyword(2, "interpolation");
                if interpolation.is_some_and(|i| dotted(i).is_none_or(|d| d.contains("NEAREST"))) {
                    continue;
                }
                let func = ctx.text(call.expr.func.range());
                let prefix = func.strip_suffix("resize").unwrap_or("");
                let message = format!(
                    "`{mask}` looks like a label map but `{func}` resizes it bilinearly (torchvision's default): pass interpolation=InterpolationMode.NEAREST"
                );
                let mut fix = Fix::new("Resize label maps with nearest interpolation");
                if !prefix.is_empty() {
                    fix = fix.with_replacement(with_keyword(
                        ctx,
                        call.expr,
                        "interpolation",
                        &format!("interpolation={prefix}InterpolationMode.NEAREST"),
                        &[],
                    ));
                }
                ctx.report(call.range(), message, Some(fix));
            }
            "torchvision.transforms.functional.to_tensor" => {
                // A binary 0/255 `mask` scaled to 0/1 is what BCE wants: only label maps.
                let Some(mask) = call
                    .arg(0)
                    .and_then(base_variable)
                    .filter(|n| is_label_map_name(n))
                else {
                    continue;
                };
                if label_map_arg(ctx, call).is_none() {
                    continue;
                }
                let message = format!(
                    "`{mask}` looks like a label map but `to_tensor` divides uint8 images by 255: class 1 becomes 0.0039 and `.long()` turns it into background"
                );
                let fix = Fix::new("Convert label maps without scaling").with_replacement(format!(
                    "torch.as_tensor(np.array({}), dtype=torch.long)",
                    ctx.text(call.arg(0).map(|a| a.range()).unwrap_or(call.range()))
                ));
                ctx.report(call.range(), message, Some(fix));
            }
            _ => {}
        }
    }
    target_pipelines(ctx);
    pil_resizes(ctx);
}

/// The PIL mode of an image expression when its construction shows it: `.convert("L")`, or
/// `Image.fromarray(array)` (mode "L", "I" or "F" for a 2-D array). `None` when unknown (a
/// palette PNG opened as is is mode "P", which Pillow always resizes with NEAREST).
fn known_pil_mode(text: &str) -> Option<&'static str> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let text = text.replace('\'', "\"");
    if [
        "convert(\"P\")",
        "convert(\"1\")",
        "mode=\"P\"",
        "putpalette",
    ]
    .iter()
    .any(|p| text.contains(p))
    {
        return None;
    }
    for mode in ["L", "I", "F", "RGB"] {
        if text.contains(&format!("convert(\"{mode}\")")) {
            return Some(if mode == "RGB" { "RGB" } else { "L" });
        }
    }
    text.contains("Image.fromarray(").then_some("L")
}

/// `label.resize(size)` on a PIL label map: Pillow's default filter is BICUBIC (since Pillow
/// 7.0) for every mode but "1", "P" and the "I;16"-style bit modes.
fn pil_resizes(ctx: &mut Context) {
    let index = ctx.index;
    let image_module = index
        .imports
        .iter()
        .find(|(_, q)| q.as_str() == "PIL.Image")
        .map(|(local, _)| local.clone());
    if image_module.is_none() && !index.imports.values().any(|q| q.starts_with("PIL")) {
        return;
    }
    for call in &index.calls {
        if call.method != Some("resize") || call.qualified.is_some() {
            continue;
        }
        let Expr::Attribute(attr) = call.expr.func.as_ref() else {
            continue;
        };
        let receiver = attr.value.as_ref();
        let Some(mask) = label_map_expr(ctx, call, receiver) else {
            continue;
        };
        // How the image was built: its binding in the same function before the call.
        let built = index
            .bindings
            .iter()
            .rev()
            .find(|b| {
                b.target == mask && b.function == call.function && b.range.end() < call.start()
            })
            .map(|b| ctx.text(b.value.range()))
            .unwrap_or("");
        let built_text = format!("{built} {}", ctx.text(receiver.range()));
        let resample = call.arg_or_keyword(1, "resample");
        // A PIL image: built with `Image.*` / `.convert(...)`, or resized with a PIL filter.
        let pil_filter = resample
            .and_then(|r| index.qualified_name(r))
            .is_some_and(|q| q.starts_with("PIL.Image."));
        let pil = built.contains("Image.") || built.contains(".convert(") || pil_filter;
        if !pil {
            continue;
        }
        let mode = known_pil_mode(&built_text);
        let how = match resample {
            None => {
                if mode.is_none() {
                    continue;
                }
                "with Pillow's default BICUBIC filter".to_string()
            }
            Some(r) => match dotted(r) {
                Some(d)
                    if [
                        "BILINEAR",
                        "BICUBIC",
                        "LANCZOS",
                        "HAMMING",
                        "BOX",
                        "ANTIALIAS",
                    ]
                    .iter()
                    .any(|f| d.ends_with(f)) =>
                {
                    if built_text.replace(' ', "").contains("convert(\"P\")") {
                        continue;
                    }
                    format!("with `{}`", ctx.text(r.range()))
                }
                _ => continue,
            },
        };
        let message = format!(
            "`{mask}` looks like a label map but `.resize` interpolates it {how}: boundary pixels get ids of classes that are not there; pass resample=Image.NEAREST"
        );
        let mut fix = Fix::new("Resize label maps with nearest interpolation");
        if let Some(image) = &image_module {
            fix = fix.with_replacement(with_keyword(
                ctx,
                call.expr,
                "resample",
                &format!("resample={image}.NEAREST"),
                &[],
            ));
            if resample.is_some() && call.keyword("resample").is_none() {
                // A positional filter: replace the whole argument list.
                let size = call.arg(0).map(|a| ctx.text(a.range())).unwrap_or("");
                fix = Fix::new("Resize label maps with nearest interpolation").with_replacement(
                    format!(
                        "{}({size}, {image}.NEAREST)",
                        ctx.text(call.expr.func.range())
                    ),
                );
            }
        }
        ctx.report(call.range(), message, Some(fix));
    }
}

/// `target_transform=` of a segmentation dataset, or a `Compose` assigned to `mask_transform`.
fn target_pipelines(ctx: &mut Context) {
    let index = ctx.index;
    let mut pipelines: Vec<(&ExprCall, String)> = Vec::new();
    for call in &index.calls {
        let Some(q) = call.qualified.as_deref() else {
            continue;
        };
        if matches!(
            q.rsplit('.').next(),
            Some("VOCSegmentation" | "Cityscapes" | "SBDataset")
        ) && q.starts_with("torchvision.datasets")
        {
            if let Some(Expr::Call(c)) = call.keyword("target_transform") {
                pipelines.push((
                    c,
                    format!(
                        "the target_transform of `{}`",
                        ctx.text(call.expr.func.range())
                    ),
                ));
            }
        }
    }
    for binding in &index.bindings {
        let Expr::Call(c) = binding.value else {
            continue;
        };
        let last = binding.target.rsplit('.').next().unwrap_or(&binding.target);
        if (is_label_map_name(last) || is_mask_name(last))
            && index
                .qualified_name(&c.func)
                .is_some_and(|q| q.starts_with("torchvision.transforms") && q.ends_with("Compose"))
        {
            pipelines.push((c, format!("`{}`", binding.target)));
        }
    }
    for (compose, what) in pipelines {
        let Some(Expr::List(list)) = compose.arguments.args.first() else {
            continue;
        };
        for step in &list.elts {
            let Expr::Call(step) = step else {
                continue;
            };
            let Some(q) = index.qualified_name(&step.func) else {
                continue;
            };
            if !q.starts_with("torchvision.transforms")
                || q.starts_with("torchvision.transforms.v2")
            {
                continue;
            }
            let short = q.rsplit('.').next().unwrap_or(&q);
            let step_text = ctx.text(step.range()).to_string();
            let func = ctx.text(step.func.range());
            let prefix = func.strip_suffix(short).unwrap_or("").to_string();
            let (message, fix) = match short {
                "Resize" | "RandomResizedCrop" => {
                    let interpolation = step
                        .arguments
                        .keywords
                        .iter()
                        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "interpolation"))
                        .map(|k| &k.value)
                        .or_else(|| step.arguments.args.get(if short == "Resize" { 1 } else { 3 }));
                    if interpolation.is_some_and(|i| dotted(i).is_none_or(|d| d.contains("NEAREST"))) {
                        continue;
                    }
                    (
                        format!("`{step_text}` in {what} resizes label maps bilinearly (torchvision's default): class ids get averaged at boundaries"),
                        Fix::new("Resize label maps with nearest interpolation").with_replacement(
                            with_keyword(ctx, step, "interpolation", &format!("interpolation={prefix}InterpolationMode.NEAREST"), &[]),
                        ),
                    )
                }
                "ToTensor" => (
                    format!("`{step_text}` in {what} divides the label map by 255: class ids become fractions"),
                    Fix::new("Convert label maps without scaling").with_replacement(format!("{prefix}PILToTensor()")),
                ),
                "Normalize" => (
                    format!("`{step_text}` in {what} normalizes class ids as if they were intensities"),
                    Fix::new("Remove Normalize from the label-map pipeline"),
                ),
                _ => continue,
            };
            ctx.report(step.range(), message, Some(fix));
        }
    }
}
