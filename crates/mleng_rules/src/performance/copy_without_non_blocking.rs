use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::boolean;

use super::loaders::{
    argument, framework_moves_batches, helper_loops, iterating_loops, loaders, PIN_MEMORY_POSITION,
};
use crate::context::{with_keyword, Context};
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF009",
    name: "pinned-batch-copied-blocking",
    area: Area::Performance,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "A batch from a loader with `pin_memory=True` is copied to the GPU without `non_blocking=True`: the CPU waits for every copy, so the pinning buys no overlap.",
    docs: r#"## What it does
Finds `.to(device)` and `.cuda()` calls on the batch of a loop over a `DataLoader` built in the
same file with `pin_memory=True` (the loop iterating the loader itself, or a function of the
file that the loader is passed to: `train(model, train_loader)` with `def train(model,
loader): for x, y in loader:`), without a `non_blocking` argument. Code written for
Lightning, Accelerate, Ignite or the Hugging Face `Trainer` (which move batches themselves) is
not reviewed, nor loaders whose `pin_memory` is a variable.

## Why is this bad?
`pin_memory=True` puts each batch in page-locked host memory so that the copy to the GPU can
be asynchronous. A plain `.to(device)` still waits: the CPU blocks until the copy has finished
before it goes on to queue the forward pass. With `non_blocking=True` the copy is queued on
the current CUDA stream and the CPU continues at once; kernels queued after it on the same
stream run after the copy has finished, so the result is the same. The PyTorch tutorial on
`pin_memory` and `non_blocking` shows that the two belong together: pinning without a
non-blocking copy gains only the faster transfer, not the overlap.

The effect is documented (the CUDA semantics notes and the `pin_memory`/`non_blocking`
tutorial); it was not measured here (no GPU).

## Example
```python
loader = DataLoader(train_set, batch_size=64, shuffle=True, num_workers=8, pin_memory=True)
for images, labels in loader:
    images, labels = images.to(device), labels.to(device)
```

## Use instead
```python
for images, labels in loader:
    images = images.to(device, non_blocking=True)
    labels = labels.to(device, non_blocking=True)
```

## Fix
Unsafe: `non_blocking=True` is added to the copy. The result on the GPU is the same, but the
CPU no longer waits for the copy: code that writes to the host batch in place after the copy
(rare) would then race with it.

## References
- PyTorch tutorial, "A guide on good usage of non_blocking and pin_memory() in PyTorch": <https://pytorch.org/tutorials/intermediate/pinmem_nonblock.html>
- CUDA semantics, "Use pinned memory buffers": <https://pytorch.org/docs/stable/notes/cuda.html#use-pinned-memory-buffers>
- PyTorch Performance Tuning Guide, "Enable async data loading and augmentation": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() || framework_moves_batches(ctx) {
        return;
    }
    let mut reported = Vec::new();
    for loader in loaders(ctx) {
        let pinned = argument(loader.call, "pin_memory", PIN_MEMORY_POSITION)
            .and_then(boolean)
            .unwrap_or(false);
        if !pinned {
            continue;
        }
        let target = loader.target;
        let mut loops = iterating_loops(ctx, &loader);
        loops.extend(helper_loops(ctx, &loader));
        for lid in loops {
            for copy in index.batch_copies(lid) {
                // A copy of a tensor made on the host first (`x.float().cuda()`) is not pinned.
                if copy.non_blocking || !copy.direct || reported.contains(&copy.call) {
                    continue;
                }
                reported.push(copy.call);
                let call = &index.calls[copy.call];
                let text = ctx.text(call.range());
                let message = format!(
                    "`{text}` copies a batch of `{target}`, which pins its batches (`pin_memory=True`), without `non_blocking=True`: the CPU waits for the copy instead of queuing the step"
                );
                let fix = Fix::new("Copy the pinned batch asynchronously")
                    .with_replacement(with_keyword(text, "non_blocking=True"));
                ctx.report(call.range(), message, Some(fix));
            }
        }
    }
}
