use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::EMPTY_CACHE;

use super::hot_path::{every_step_calls, manages_streams, training_steps};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF002",
    name: "empty-cache-in-training-step",
    area: Area::Performance,
    severity: Severity::Warning,
    fix: None,
    summary: "`torch.cuda.empty_cache()` on every training step: it frees nothing PyTorch can use and makes the next step allocate from the driver again.",
    docs: r#"## What it does
Finds `torch.cuda.empty_cache()` called on every step of a training loop (or of a step
function the loop calls): in the loop body, not under a condition such as
`if step % 1000 == 0:` or in an `except` handler for out-of-memory errors.

## Why is this bad?
PyTorch keeps freed GPU memory in its caching allocator and reuses it for the next step's
tensors without asking the driver. `empty_cache()` hands those cached blocks back to the
driver: the next forward and backward pass must `cudaMalloc` them again, which is slow and
synchronizes the device. The CUDA semantics notes say it plainly: it "does not increase the
amount of GPU memory available for PyTorch" (it only lets *other* processes see the memory in
`nvidia-smi`). It does not fix a leak either: memory held by live tensors (a loss kept with
its graph) stays held. Where it is there against out-of-memory errors caused by fragmentation
(inputs whose size changes every step, such as point clouds or variable-length sequences),
the allocator's `expandable_segments:True` setting addresses fragmentation without emptying
the cache every step.

The effect is documented (the CUDA semantics notes and the PyTorch performance tuning guide
on synchronizations); it was not measured here.

## Example
```python
for images, labels in loader:
    loss = criterion(model(images.cuda()), labels.cuda())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    torch.cuda.empty_cache()
```

## Use instead
```python
for images, labels in loader:
    loss = criterion(model(images.cuda()), labels.cuda())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
# If another process must get the memory back, empty the cache once, after training.
```

## References
- CUDA semantics, "Memory management": <https://pytorch.org/docs/stable/notes/cuda.html#memory-management>
- `torch.cuda.empty_cache`: <https://pytorch.org/docs/stable/generated/torch.cuda.empty_cache.html>
- PyTorch Performance Tuning Guide, "Avoid unnecessary CPU-GPU synchronization": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if manages_streams(ctx) {
        return;
    }
    for step in training_steps(ctx) {
        for id in every_step_calls(ctx, &step, EMPTY_CACHE) {
            let message = "`torch.cuda.empty_cache()` runs on every training step: it gives the cached GPU memory back to the driver, so the next step must allocate it again (slow, and a device synchronization); memory held by live tensors is not freed by it";
            let fix = Fix::new(
                "Remove it from the loop; PyTorch reuses its cached memory. If it is there against out-of-memory errors from fragmentation (inputs of varying size), `PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True` addresses that without a cost per step",
            );
            ctx.report(index.calls[id].range(), message, Some(fix));
        }
    }
}
