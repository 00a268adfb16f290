use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::{CLOCKS, DEVICE_SYNCHRONIZE, HOST_COPY_METHODS};
use mleng_python::index::TrainingScope;

use super::hot_path::{every_step, every_step_calls, manages_streams, training_steps, Step};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF003",
    name: "synchronize-in-training-step",
    area: Area::Performance,
    severity: Severity::Info,
    fix: None,
    summary: "`torch.cuda.synchronize()` on every training step, not for timing: the CPU waits for the GPU instead of queuing the next step.",
    docs: r#"## What it does
Finds `torch.cuda.synchronize()` called on every step of a training loop (or of a step
function the loop calls), not under a condition such as `if step % log_every == 0:`, in a step
that does not read a clock (a synchronize next to `time.time()` / `time.perf_counter()` or
CUDA events, or in a loop over a logger that times iterations, is there to time the step, on
purpose), and that does not wait for the GPU anyway (a `loss.item()`, `.cpu()` or `.numpy()`
every step already synchronizes: the explicit call then costs little more), in a file that
does not manage CUDA streams or graphs itself.

## Why is this bad?
CUDA work is asynchronous: while the GPU runs this step's kernels, the CPU can already fetch
the next batch and queue the next step's kernels. `torch.cuda.synchronize()` makes the CPU
wait until the GPU has finished everything, so the next step's launch overhead and host work
are no longer hidden behind GPU work. Training is correct without it: PyTorch orders the
kernels on a stream and synchronizes by itself where a value must reach the host. The PyTorch
performance tuning guide lists unnecessary CPU-GPU synchronizations among the first things to
remove; how much it costs depends on how much host work each step has (most for small models
and fast steps).

The effect is documented (the tuning guide); it was not measured here.

## Example
```python
for images, labels in loader:
    loss = criterion(model(images.cuda()), labels.cuda())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    torch.cuda.synchronize()
```

## Use instead
```python
for step, (images, labels) in enumerate(loader):
    loss = criterion(model(images.cuda()), labels.cuda())
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    # No synchronize: PyTorch synchronizes where a value reaches the host. To time steps,
    # synchronize every N steps only, or use torch.cuda.Event(enable_timing=True).
```

## References
- PyTorch Performance Tuning Guide, "Avoid unnecessary CPU-GPU synchronization": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
- CUDA semantics, "Asynchronous execution": <https://pytorch.org/docs/stable/notes/cuda.html#asynchronous-execution>
- `torch.cuda.synchronize`: <https://pytorch.org/docs/stable/generated/torch.cuda.synchronize.html>
"#,
    check,
};

/// The step reads a clock or records CUDA events, or iterates a logger that times each
/// iteration (`metric_logger.log_every(loader, ...)`): a synchronize there times the step.
fn times_the_step(ctx: &Context, step: &Step) -> bool {
    let header = match step.lp.scope {
        TrainingScope::Loop(lid) => ctx.text(ctx.index.loops[lid].header).to_ascii_lowercase(),
        TrainingScope::Function(_) => String::new(),
    };
    header.contains("log_every")
        || header.contains("time")
        || ctx.index.calls.iter().any(|c| {
            step.range.contains_range(c.range())
                && (c.qualified.as_deref().is_some_and(|q| CLOCKS.contains(&q))
                    || matches!(c.method, Some("elapsed_time" | "record")))
        })
}

/// The step already waits for the GPU every step (`loss.item()`, `.cpu()`, `.numpy()`,
/// `.tolist()`): an explicit synchronize next to it costs little more.
fn syncs_anyway(ctx: &Context, step: &Step) -> bool {
    ctx.index.calls.iter().enumerate().any(|(id, c)| {
        matches!(c.method, Some(m) if HOST_COPY_METHODS.contains(&m) || m == "item")
            && every_step(ctx, step, id)
    })
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if manages_streams(ctx) {
        return;
    }
    for step in training_steps(ctx) {
        if times_the_step(ctx, &step) || syncs_anyway(ctx, &step) {
            continue;
        }
        for id in every_step_calls(ctx, &step, DEVICE_SYNCHRONIZE) {
            let message = "`torch.cuda.synchronize()` runs on every training step: the CPU waits for the GPU to finish before it can queue the next step, which PyTorch does not need for correctness";
            let fix = Fix::new(
                "Remove it; to time steps, synchronize only every N steps or use `torch.cuda.Event(enable_timing=True)`",
            );
            ctx.report(index.calls[id].range(), message, Some(fix));
        }
    }
}
