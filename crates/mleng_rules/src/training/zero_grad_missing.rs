use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::training::{TrainingLoop, TrainingScope};
use mleng_python::index::CallKind;
use mleng_python::index::{receiver_kind, ReceiverKind};

use super::loop_facts::{call_text, clears_grads_by_hand, clears_grads_otherwise, optimizer_name};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN004",
    name: "zero-grad-missing",
    area: Area::Training,
    severity: Severity::Error,
    fix: Some(Applicability::Unsafe),
    summary:
        "A training loop calls backward() and steps the optimizer but never clears the gradients.",
    docs: r#"## What it does
Finds training loops (a loop with `backward()` and an optimizer or `GradScaler` step) in which
nothing clears the gradients: no `optimizer.zero_grad()`, `model.zero_grad()`, `param.grad = None`
or `param.grad.zero_()`, directly or in a local helper the loop calls. A Lightning
`training_step` with manual optimization (`self.manual_backward`) is checked the same way.
A loop that steps several optimizers (a GAN's generator and discriminator) and clears some of
them by name is checked per optimizer: the one whose `zero_grad()` is missing is reported
(unless a module's `zero_grad()` or a helper may clear it).

## Why is this bad?
`backward()` *adds* to `.grad`; it never overwrites it. Without clearing, the gradient of step
`t` is the sum of the gradients of every batch so far, so each update follows a stale running
sum that grows without bound: the effective learning rate rises with every step, the loss
oscillates or diverges, and the run looks like a bad hyper-parameter choice rather than a bug.
Gradient accumulation still clears the gradients, just every N micro-batches instead of every
batch.

## Example
```python
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad(set_to_none=True)
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```

## Known problems
Step functions without a loop of their own (`def train_step`) are not reported: their caller
may clear the gradients. Optimizers that clear gradients themselves inside a custom `step`
are not recognised; closures passed to `optimizer.step(closure)` (L-BFGS) are assumed to clear.
Test files are skipped.

## Fix
Unsafe: `--unsafe-fixes` inserts `optimizer.zero_grad()` on its own line before the backward
pass. Right for a loop that never meant to accumulate; a loop that accumulates on purpose
needs the call where its accumulation window ends instead, so review the fix. A backward that
shares its line with other code gets the fix shown, not applied.

## References
- PyTorch tutorial, "Zeroing out gradients in PyTorch": <https://pytorch.org/tutorials/recipes/recipes/zeroing_out_gradients.html>
- `torch.optim.Optimizer.zero_grad`: <https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    for lp in index.training_loops.clone() {
        if !checked_scope(ctx, &lp) {
            continue;
        }
        if lp.has(|k| k == CallKind::ZeroGrad) {
            one_optimizer_not_cleared(ctx, &lp);
            continue;
        }
        if clears_grads_by_hand(ctx, &lp) || steps_with_closure(ctx, &lp) {
            continue;
        }
        let Some(step) = lp.first(CallKind::is_step) else {
            continue;
        };
        let optimizer = optimizer_name(ctx, &lp);
        let backward = call_text(ctx, &lp, |k| k == CallKind::Backward)
            .unwrap_or_else(|| "loss.backward()".into());
        let step_text =
            call_text(ctx, &lp, CallKind::is_step).unwrap_or_else(|| format!("{optimizer}.step()"));
        // Reported at the backward pass, where the missing call goes (and where maintainers
        // insert it); the step is named in the message.
        let Some(first_backward) = lp.first(|k| k == CallKind::Backward) else {
            continue;
        };
        let backward_range = index.calls[first_backward.via.unwrap_or(first_backward.call)].range();
        let backward_site = ctx.text(backward_range).to_string();
        let message = format!(
            "`{step_text}` follows `{backward}` but nothing in this training loop clears the gradients: each step uses the sum of all gradients so far"
        );
        let mut fix = Fix::new(format!(
            "Call `{optimizer}.zero_grad()` once per step, before the backward pass"
        ));
        fix = if backward_site.contains('\n') || !ctx.starts_line(backward_range) {
            fix.with_example(format!(
                "{optimizer}.zero_grad(set_to_none=True)\n{backward}\n{step_text}"
            ))
        } else {
            fix.with_replacement(ctx.lines_at(
                backward_range,
                &[&format!("{optimizer}.zero_grad()"), &backward_site],
            ))
        };
        let _ = step;
        let loop_header = index
            .loops
            .iter()
            .find(|l| l.range == lp.range)
            .map(|l| ctx.location(l.header));
        let finding = ctx.report(backward_range, message, Some(fix));
        if let Some(at) = loop_header {
            finding.relate(
                at,
                "each step starts here (clearing at the top of the step works too)",
            );
        }
    }
}

/// Loops, and Lightning `training_step`s with manual optimization (nobody else clears there).
fn checked_scope(ctx: &Context, lp: &TrainingLoop) -> bool {
    let index = ctx.index;
    match lp.scope {
        TrainingScope::Loop(_) => true,
        TrainingScope::Function(fid) => {
            let function = &index.functions[fid];
            function.name == "training_step"
                && function
                    .class
                    .is_some_and(|c| index.classes[c].is_lightning)
                && lp
                    .events_of(|k| k == CallKind::Backward)
                    .any(|e| index.calls[e.call].method == Some("manual_backward"))
                && !class_clears(ctx, function.class)
        }
    }
}

/// Any `zero_grad` in the class (a hook such as `on_train_batch_start` may clear).
fn class_clears(ctx: &Context, class: Option<usize>) -> bool {
    ctx.index
        .calls
        .iter()
        .any(|c| c.class == class && c.kind == CallKind::ZeroGrad)
}

/// `optimizer.step(closure)`: the closure (L-BFGS style) does zero_grad + backward itself.
fn steps_with_closure(ctx: &Context, lp: &TrainingLoop) -> bool {
    lp.events_of(|k| k == CallKind::OptimizerStep).any(|e| {
        let call = &ctx.index.calls[e.call];
        call.arg(0).is_some() || call.keyword("closure").is_some()
    })
}

/// A loop that steps several optimizers (a GAN's generator and discriminator) and clears the
/// gradients of some but not all: the optimizer without its own `zero_grad()` accumulates
/// (idinvert's discriminator before its fix). Only when every clearing call is an optimizer's
/// (`net.zero_grad()` on a module may clear any of them) and none goes through a helper.
fn one_optimizer_not_cleared(ctx: &mut Context, lp: &TrainingLoop) {
    let index = ctx.index;
    let mut cleared = Vec::new();
    for e in lp.events_of(|k| k == CallKind::ZeroGrad) {
        let call = &index.calls[e.call];
        let receiver = match (e.via, &call.receiver) {
            (None, Some(r)) if receiver_kind(call) == ReceiverKind::Optimizer => r.clone(),
            _ => return,
        };
        cleared.push(receiver);
    }
    if clears_grads_otherwise(ctx, lp, false) || steps_with_closure(ctx, lp) {
        return;
    }
    let mut stepped: Vec<(&str, usize)> = Vec::new();
    for e in lp.events_of(|k| k == CallKind::OptimizerStep) {
        let call = &index.calls[e.call];
        if e.via.is_some() || receiver_kind(call) != ReceiverKind::Optimizer {
            return;
        }
        let Some(receiver) = call.receiver.as_deref() else {
            return;
        };
        if !stepped.iter().any(|(r, _)| *r == receiver) {
            stepped.push((receiver, e.call));
        }
    }
    if stepped.len() < 2 {
        return;
    }
    for (optimizer, step_call) in stepped {
        if cleared.iter().any(|c| c == optimizer) {
            continue;
        }
        // The backward right before this optimizer's step.
        let step_at = index.calls[step_call].start();
        let Some(backward) = lp
            .events_of(|k| k == CallKind::Backward)
            .filter(|e| e.via.is_none() && index.calls[e.call].start() < step_at)
            .max_by_key(|e| index.calls[e.call].start())
        else {
            continue;
        };
        let range = index.calls[backward.call].range();
        let backward_text = ctx.text(range).to_string();
        let others = cleared
            .iter()
            .map(|c| format!("`{c}.zero_grad()`"))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!(
            "`{optimizer}.step()` follows `{backward_text}` but nothing in this training loop clears `{optimizer}`'s gradients (only {others}): each of its steps uses the sum of all its gradients so far"
        );
        let mut fix = Fix::new(format!(
            "Call `{optimizer}.zero_grad()` before the backward pass that feeds it"
        ));
        if !backward_text.contains('\n') && ctx.starts_line(range) {
            fix = fix.with_replacement(ctx.lines_at(
                range,
                &[&format!("{optimizer}.zero_grad()"), &backward_text],
            ));
        }
        ctx.report(range, message, Some(fix));
    }
}
