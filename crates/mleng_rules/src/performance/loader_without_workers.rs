use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::number;
use ruff_text_size::Ranged;

use super::loaders::{
    dataset_facts, dataset_of, eval_name, feeds_training, keyword, loaders, NUM_WORKERS_POSITION,
};
use crate::context::{with_keyword, Context};
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF004",
    name: "loader-without-workers",
    area: Area::Performance,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "The training DataLoader decodes image/audio files in the main process (no `num_workers`, or 0): the GPU waits for every batch.",
    docs: r#"## What it does
Finds the `DataLoader` a training loop iterates (in the same file, or passed to a function of
the project that trains) when it has no `num_workers` or `num_workers=0` and its dataset reads
and decodes a file per sample: a dataset class whose `__getitem__` (or a helper it calls, in
any file of the project) opens images, audio or volumes (`PIL.Image.open`, `cv2.imread`,
`torchvision.io.read_image`, `torchaudio.load`, `librosa.load`, `nibabel.load`, ...), or a
torchvision dataset that does (`ImageFolder`, `VOCSegmentation`, `CocoDetection`, ...).
`num_workers` set from a variable or a configuration is not reported, nor are in-memory
datasets (MNIST, CIFAR, tensors).

## Why is this bad?
With `num_workers=0` (the default) the training loop itself reads, decodes and augments every
sample of the next batch, one after another, while the GPU sits idle; nothing overlaps.
Decoding a JPEG and resizing it takes milliseconds per image, so for a batch of 64 images the
GPU often waits longer than it computes. Worker processes prepare the next batches in parallel
while the GPU works on the current one; with `pin_memory=True` the batch is also copied to
page-locked memory so that the copy to the GPU is faster and can be asynchronous. The PyTorch
performance tuning guide lists this first ("Enable async data loading and augmentation").

The effect is documented (the tuning guide and the `torch.utils.data` docs); it was not
measured here.

## Example
```python
train_set = datasets.ImageFolder("data/train", transform=train_tf)
train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
for epoch in range(epochs):
    for images, labels in train_loader:
        images, labels = images.cuda(), labels.cuda()
        ...
```

## Use instead
```python
train_loader = DataLoader(train_set, batch_size=64, shuffle=True,
                          num_workers=8, pin_memory=True, persistent_workers=True)
```

## Known problems
In a Jupyter notebook on Windows or macOS (the `spawn` start method), workers cannot load a
dataset class defined in the notebook itself: move the class to a `.py` module first.

## Fix
Unsafe: `num_workers=4, pin_memory=True` is added to a one-line `DataLoader(...)` call that has
no `num_workers`. Worker processes need a dataset that can be pickled (and, with the `spawn`
start method of Windows and macOS, a dataset class importable from a module), each worker holds
a copy of the dataset object, and the right count depends on the CPU cores per GPU.

## References
- PyTorch Performance Tuning Guide, "Enable async data loading and augmentation": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
- `torch.utils.data`, "Single- and Multi-process Data Loading" and "Memory Pinning": <https://pytorch.org/docs/stable/data.html#single-and-multi-process-data-loading>
"#,
    check,
};

/// The file moves batches to a GPU (or lets a framework do it).
fn uses_gpu(ctx: &Context) -> bool {
    let text = &ctx.index.source.text;
    ["cuda", ".to(device", "accelerator", "device="]
        .iter()
        .any(|w| text.contains(w))
}

fn check(ctx: &mut Context) {
    if ctx.is_test_file() || !uses_gpu(ctx) {
        return;
    }
    for loader in loaders(ctx) {
        let call = loader.call;
        if call.arguments.args.len() > NUM_WORKERS_POSITION || eval_name(loader.target) {
            continue;
        }
        let workers = keyword(call, "num_workers");
        if workers.is_some_and(|w| number(w) != Some(0.0)) {
            continue;
        }
        let Some(dataset) = dataset_of(&loader) else {
            continue;
        };
        if !feeds_training(ctx, &loader) {
            continue;
        }
        let Some(decoded_by) = dataset_facts(ctx, dataset, loader.function, loader.range.start())
            .and_then(|facts| facts.decodes)
        else {
            continue;
        };
        let target = loader.target;
        let how = if workers.is_some() {
            "`num_workers=0`"
        } else {
            "no `num_workers`"
        };
        let message = format!(
            "`{target}` feeds training with {how}: every sample is read and decoded (`{decoded_by}`) in the training process while the GPU waits"
        );
        let pin = keyword(call, "pin_memory").is_none();
        let added = if pin {
            "num_workers=4, pin_memory=True"
        } else {
            "num_workers=4"
        };
        let text = ctx.text(call.range());
        let fix = if workers.is_none() && !text.contains('\n') {
            Fix::new("Load batches in worker processes (tune the count to the CPU cores per GPU)")
                .with_replacement(with_keyword(text, added))
        } else {
            Fix::new("Load batches in worker processes (tune the count to the CPU cores per GPU)")
                .with_example(format!(
                    "{target} = DataLoader(dataset, batch_size=..., shuffle=True, num_workers=4, pin_memory=True, persistent_workers=True)"
                ))
        };
        ctx.report(call.range(), message, Some(fix));
    }
}
