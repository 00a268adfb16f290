use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::{MIXED_PRECISION_MARKERS, PRECISION_FRAMEWORKS};
use mleng_knowledge::vision::torchvision_weights_enum;
use mleng_python::index::TrainingScope;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF001",
    name: "conv-performance",
    area: Area::Performance,
    severity: Severity::Info,
    fix: None,
    summary: "A conv net trained on GPU without AMP, channels_last or cudnn.benchmark (once per training script).",
    docs: r#"## What it does
Once per training script (a file with a training loop that moves data to CUDA and trains a
convolutional network: `nn.Conv2d` layers, a torchvision classification/detection/segmentation
builder, `timm.create_model`, `segmentation_models_pytorch`), lists the standard GPU speed-ups it
does not use:
- mixed precision (`torch.autocast` / `torch.amp.GradScaler`);
- the `channels_last` memory format for model and inputs;
- `torch.backends.cudnn.benchmark = True`.

Any mention of one of them in the file (including `autocast`, `amp`, `channels_last`,
`cudnn.benchmark`, or a framework such as Accelerate or Lightning that sets them) counts as
using it.

## Why is this bad?
On Volta and newer GPUs, convolutions in fp16/bf16 run on tensor cores: AMP typically speeds
conv-net training up 1.5-3x and halves activation memory. Tensor-core convolution kernels want
NHWC layout: `channels_last` adds another 10-30% on top of AMP and avoids layout transposes.
`cudnn.benchmark` picks the fastest convolution algorithm for each input shape once; with fixed
input sizes it is free speed (with variable sizes it re-tunes for every new shape: leave it off).
The figures above are the cited guides' (PyTorch's tuning guide, NVIDIA's performance guide);
they were not measured here: no GPU was available to this project.

## Example
```python
model = torchvision.models.resnet50().cuda()
for images, labels in loader:
    loss = criterion(model(images.cuda()), labels.cuda())
    optimizer.zero_grad(); loss.backward(); optimizer.step()
```

## Use instead
```python
torch.backends.cudnn.benchmark = True
model = torchvision.models.resnet50().cuda().to(memory_format=torch.channels_last)
scaler = torch.amp.GradScaler("cuda")
for images, labels in loader:
    images = images.cuda(non_blocking=True).to(memory_format=torch.channels_last)
    with torch.autocast("cuda", dtype=torch.float16):
        loss = criterion(model(images), labels.cuda())
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()
```

## References
- PyTorch Performance Tuning Guide (AMP, channels_last, cudnn.benchmark): <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
- "(Beta) Channels Last Memory Format in PyTorch": <https://pytorch.org/tutorials/intermediate/memory_format_tutorial.html>
- Micikevicius et al., "Mixed Precision Training", ICLR 2018: <https://arxiv.org/abs/1710.03740>
- NVIDIA Deep Learning Performance guide, convolutional layers (NHWC, tensor cores): <https://docs.nvidia.com/deeplearning/performance/dl-performance-convolutional/index.html>
"#,
    check,
};

fn trains_conv_net(ctx: &Context) -> bool {
    let index = ctx.index;
    index.classes.iter().any(|c| {
        c.layers.iter().any(|l| {
            l.constructor
                .as_deref()
                .is_some_and(|q| q == "torch.nn.Conv2d")
        })
    }) || index.calls.iter().any(|c| {
        c.qualified.as_deref().is_some_and(|q| {
            (q == "timm.create_model" && timm_cnn(c))
                || q.starts_with("segmentation_models_pytorch.")
                || q.strip_prefix("torchvision.models.").is_some_and(|b| {
                    torchvision_weights_enum(b.rsplit('.').next().unwrap_or(b)).is_some_and(|w| {
                        !w.starts_with("ViT") && !w.starts_with("Swin") && !w.starts_with("MaxVit")
                    })
                })
        })
    })
}

/// A timm model name (literal) of a convolutional family; transformers (ViT, DeiT, Swin...) gain
/// little from channels_last.
fn timm_cnn(call: &mleng_python::index::Call) -> bool {
    const CNN: &[&str] = &[
        "resnet",
        "resnext",
        "seresnext",
        "wide_resnet",
        "regnet",
        "efficientnet",
        "tf_efficientnet",
        "mobilenet",
        "convnext",
        "densenet",
        "vgg",
        "inception",
        "xception",
        "dla",
        "dpn",
        "ghostnet",
        "mnasnet",
        "rexnet",
        "res2net",
        "resnest",
        "cspresnet",
        "cspdarknet",
        "hrnet",
        "nfnet",
        "dm_nfnet",
        "repvgg",
        "mixnet",
        "fbnet",
        "lcnet",
        "hardcorenas",
        "tinynet",
    ];
    call.arg_or_keyword(0, "model_name")
        .and_then(mleng_python::index::literals::string)
        .is_some_and(|name| CNN.iter().any(|p| name.starts_with(p)))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    let Some(training) = index.training_loops.first() else {
        return;
    };
    let text = &index.source.text;
    if !text.contains("cuda") || !trains_conv_net(ctx) {
        return;
    }
    if index.imports_any(PRECISION_FRAMEWORKS) {
        // The framework owns precision and memory format.
        return;
    }
    let lower = text.to_ascii_lowercase();
    let mut missing = Vec::new();
    let mut short = Vec::new();
    if !MIXED_PRECISION_MARKERS.iter().any(|w| lower.contains(w)) {
        short.push("mixed precision (AMP)");
        missing.push("mixed precision (`torch.autocast(\"cuda\", dtype=torch.float16)` with `torch.amp.GradScaler`): 1.5-3x on tensor-core GPUs");
    }
    if !lower.contains("channels_last") {
        short.push("channels_last");
        missing.push("`channels_last` memory format for model and inputs: NHWC tensor-core kernels, typically +10-30% with AMP");
    }
    if !lower.contains("cudnn.benchmark") {
        short.push("cudnn.benchmark");
        missing.push("`torch.backends.cudnn.benchmark = True` when input sizes are fixed");
    }
    if missing.is_empty() {
        return;
    }
    let range = match training.scope {
        TrainingScope::Loop(id) => index.loops[id].header,
        TrainingScope::Function(id) => {
            let def = index.functions[id].def;
            ruff_text_size::TextRange::new(def.range().start(), def.name.range().end())
        }
    };
    let listed = match short.as_slice() {
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
        [] => String::new(),
    };
    let message = format!("This conv-net training loop on CUDA does not use {listed}");
    let fix = Fix::new("Enable them where the model allows").with_example(
        "torch.backends.cudnn.benchmark = True\nmodel = model.to(memory_format=torch.channels_last)\nscaler = torch.amp.GradScaler(\"cuda\")\nwith torch.autocast(\"cuda\", dtype=torch.float16):\n    loss = criterion(model(x.to(memory_format=torch.channels_last)), y)\nscaler.scale(loss).backward(); scaler.step(optimizer); scaler.update()",
    );
    let finding = ctx.report(range, message, Some(fix));
    for m in missing {
        finding.evidence.push(format!("missing: {m}"));
    }
}
