use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::training::Event;
use mleng_python::index::CallKind;
use ruff_text_size::Ranged;

use super::loop_facts::exclusive;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN005",
    name: "zero-grad-between-backward-and-step",
    area: Area::Training,
    severity: Severity::Error,
    fix: None,
    summary: "optimizer.zero_grad() runs after backward() and before optimizer.step(): the step applies zero gradients.",
    docs: r#"## What it does
Finds `optimizer.zero_grad()` that runs after the iteration's `backward()` and before
`optimizer.step()` (or `scaler.step(optimizer)`) of the same optimizer, with no other
`backward()` in between, directly or in a local helper the loop calls.

## Why is this bad?
`zero_grad()` clears (or sets to `None`) the gradients `backward()` just computed, so the step
that follows sees zeros or nothing: plain SGD does not move at all, and momentum/Adam keep
drifting on stale state while weight decay shrinks the weights. The loss stays flat and nothing
crashes. The usual cause is moving `zero_grad()` "to the end" one line too far up.

## Example
```python
loss.backward()
optimizer.zero_grad()
optimizer.step()
```

## Use instead
```python
optimizer.zero_grad()
loss.backward()
optimizer.step()
```

## References
- PyTorch tutorial, "Zeroing out gradients in PyTorch": <https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html>
- PyTorch optimization loop (zero_grad, backward, step): <https://pytorch.org/tutorials/beginner/basics/optimization_tutorial.html#optimization-loop>
"#,
    check,
};

fn key(e: &Event) -> (ruff_text_size::TextSize, usize) {
    (e.position, e.call)
}

/// The optimizer a step event steps (`opt` in `opt.step()` or `scaler.step(opt)`).
fn stepped(ctx: &Context, e: &Event) -> Option<String> {
    let call = &ctx.index.calls[e.call];
    match e.kind {
        CallKind::OptimizerStep => call.receiver.clone(),
        CallKind::ScalerStep => call.arg(0).map(|a| ctx.text(a.range()).to_string()),
        _ => None,
    }
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for lp in index.training_loops.clone() {
        let mut reported = Vec::new();
        for step in lp.events_of(CallKind::is_step) {
            let Some(optimizer) = stepped(ctx, step) else {
                continue;
            };
            // The last backward before the step, and a zero_grad of the same optimizer after it.
            let step_range = index.calls[step.via.unwrap_or(step.call)].range();
            let on_path = |e: &Event| {
                let range = index.calls[e.via.unwrap_or(e.call)].range();
                !index.flow.off_normal_path(range, step_range.start())
                    && !exclusive(ctx, range, step_range)
            };
            let Some(backward) = lp
                .events_of(|k| k == CallKind::Backward)
                .filter(|b| key(b) < key(step) && on_path(b))
                .max_by_key(|b| key(b))
            else {
                continue;
            };
            let Some(zero) = lp.events_of(|k| k == CallKind::ZeroGrad).find(|z| {
                key(z) > key(backward)
                    && key(z) < key(step)
                    && on_path(z)
                    && index.calls[z.call].receiver.as_deref() == Some(optimizer.as_str())
            }) else {
                continue;
            };
            let zero_call = index.calls[zero.via.unwrap_or(zero.call)].range();
            if reported.contains(&zero_call) {
                continue;
            }
            reported.push(zero_call);
            let backward_text = ctx.text(index.calls[backward.call].range()).to_string();
            let zero_text = ctx.text(index.calls[zero.call].range()).to_string();
            let step_text = ctx.text(index.calls[step.call].range()).to_string();
            let through = match zero.via {
                Some(via) => format!(" (called by `{}`)", ctx.text(index.calls[via].range())),
                None => String::new(),
            };
            let message = format!(
                "`{zero_text}`{through} clears the gradients of `{backward_text}` before `{step_text}` uses them: the step applies zero gradients"
            );
            let fix = Fix::new(format!(
                "Clear the gradients before the backward pass (or after `{step_text}`)"
            ))
            .with_example(format!("{zero_text}\n{backward_text}\n{step_text}"));
            let evidence = format!(
                "`{backward_text}` at {}, `{step_text}` at {}",
                ctx.where_is(index.calls[backward.via.unwrap_or(backward.call)].range()),
                ctx.where_is(index.calls[step.via.unwrap_or(step.call)].range())
            );
            ctx.report(zero_call, message, Some(fix))
                .evidence
                .push(evidence);
        }
    }
}
