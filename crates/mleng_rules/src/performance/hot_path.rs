//! The hot path of a training loop: code that runs on every optimizer step. Performance rules
//! report only there (a sync once per epoch, or under `if step % 100 == 0:`, costs nothing
//! worth a finding).

use mleng_python::index::training::helper_targets;
use mleng_python::index::{CallId, TrainingLoop, TrainingScope};
use ruff_text_size::{Ranged, TextRange};

use crate::context::Context;

/// A training step the performance rules look into: the batch loop that trains (or a step
/// function called once per step), and the range whose code runs every step.
pub(crate) struct Step {
    pub lp: TrainingLoop,
    /// The loop, or the step function's body.
    pub range: TextRange,
}

/// The training steps of the file (none in test or benchmark code): batch loops, and step
/// functions that run once per step (named for a step, like Lightning's `training_step`, or
/// called from a loop of the file); a function that trains once (a demo) is not a step.
pub(crate) fn training_steps(ctx: &Context) -> Vec<Step> {
    if ctx.is_test_file() {
        return Vec::new();
    }
    let index = ctx.index;
    ctx.index
        .training_loops
        .iter()
        .filter(|lp| match lp.scope {
            TrainingScope::Loop(_) => true,
            TrainingScope::Function(f) => {
                let name = index.functions[f].name.to_ascii_lowercase();
                name.contains("step")
                    || name.contains("batch")
                    || name.contains("iter")
                    || index.calls.iter().enumerate().any(|(id, c)| {
                        !c.loops.is_empty() && helper_targets(index, id, c.class).contains(&f)
                    })
            }
        })
        .map(|lp| Step {
            lp: lp.clone(),
            range: lp.range,
        })
        .collect()
}

/// A guard that still runs every step on a GPU (`if torch.cuda.is_available():`,
/// `if args.cuda:`, `if device.type == "cuda":`) rather than every N steps.
fn device_guard(test: &str) -> bool {
    let test = test.to_ascii_lowercase();
    (test.contains("cuda") || test.contains("gpu") || test.contains("device"))
        && !test.contains('%')
        && !test.contains("step")
        && !test.contains("iter")
        && !test.contains("batch")
        && !test.contains("log")
}

/// Does the call run on every step of `step`: in its loop (or step function) directly, in no
/// nested function, under no `if` other than a device check, not in an `except` handler?
pub(crate) fn every_step(ctx: &Context, step: &Step, call: CallId) -> bool {
    let index = ctx.index;
    let c = &index.calls[call];
    if c.function != step.lp.function || !step.range.contains_range(c.range()) {
        return false;
    }
    match step.lp.scope {
        TrainingScope::Loop(lid) => {
            if !c.loops.contains(&lid) {
                return false;
            }
        }
        TrainingScope::Function(_) => {
            if !c.loops.is_empty() {
                return false;
            }
        }
    }
    let range = c.range();
    if index
        .flow
        .handlers
        .iter()
        .any(|b| step.range.contains_range(*b) && b.contains_range(range))
    {
        return false;
    }
    index
        .flow
        .guards(range)
        .filter(|(block, _)| step.range.contains_range(block.range))
        .all(|(block, in_body)| in_body && device_guard(ctx.text(block.test.range())))
}

/// The calls to one of `callees` (qualified names) that run on every step of `step`.
pub(crate) fn every_step_calls(ctx: &Context, step: &Step, callees: &[&str]) -> Vec<CallId> {
    ctx.index
        .calls
        .iter()
        .enumerate()
        .filter(|(id, call)| {
            call.qualified
                .as_deref()
                .is_some_and(|q| callees.contains(&q))
                && every_step(ctx, step, *id)
        })
        .map(|(id, _)| id)
        .collect()
}

/// Code that manages CUDA streams or graphs itself (capture, warmup on a side stream) may need
/// explicit synchronization and cache control.
pub(crate) fn manages_streams(ctx: &Context) -> bool {
    let text = &ctx.index.source.text;
    ["cuda.Stream", "cuda.stream(", "CUDAGraph", "cuda.graph"]
        .iter()
        .any(|w| text.contains(w))
}
