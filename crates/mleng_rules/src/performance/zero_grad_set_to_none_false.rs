use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::literals::boolean;
use mleng_python::index::CallKind;
use ruff_text_size::Ranged;

use super::hot_path::training_steps;
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF011",
    name: "zero-grad-keeps-zeros",
    area: Area::Performance,
    severity: Severity::Info,
    fix: Some(Applicability::Unsafe),
    summary: "`zero_grad(set_to_none=False)` in a training loop: every gradient is filled with zeros each step, where the default (`None`) costs nothing and lets backward write instead of add.",
    docs: r#"## What it does
Finds `optimizer.zero_grad(set_to_none=False)` (or `model.zero_grad(set_to_none=False)`) in a
training loop or step function, in a file that does not read or modify `.grad` tensors itself
(`p.grad.add_(...)`, `p.grad += ...`, `p.grad.data`, `p.grad[...]`), where zeros instead of
`None` may be needed.

## Why is this bad?
With `set_to_none=False` every step launches a memset over every gradient tensor, and the next
backward pass then adds into those zeros (a read and a write of each gradient). With the
default, `set_to_none=True` since PyTorch 2.0, the gradients are released and backward writes
fresh ones: one memory operation less per parameter and a lower peak memory between
`zero_grad` and `backward`. The PyTorch performance tuning guide lists it ("Use
parameter.grad = None instead of model.zero_grad() or optimizer.zero_grad()"). The saving is
small per step but costs nothing to take, and grows with the parameter count.

The effect is documented (the tuning guide and the `Optimizer.zero_grad` reference); it was
not measured here (no GPU).

## Example
```python
for x, y in loader:
    optimizer.zero_grad(set_to_none=False)
    loss_fn(model(x), y).backward()
    optimizer.step()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad()  # set_to_none=True, the default since PyTorch 2.0
    loss_fn(model(x), y).backward()
    optimizer.step()
```

## Fix
Unsafe: the argument is removed. With `None` gradients the behaviour changes where a
parameter gets no gradient in a step: `torch.optim` optimizers skip it (no momentum or weight
decay update that step) instead of stepping it with a zero gradient, and code that reads its
`.grad` gets `None`. Before PyTorch 2.0 the default was `False`: pass `set_to_none=True` there.

## References
- `torch.optim.Optimizer.zero_grad` (`set_to_none`, its default and the behaviour differences): <https://pytorch.org/docs/stable/generated/torch.optim.Optimizer.zero_grad.html>
- PyTorch Performance Tuning Guide, "Use parameter.grad = None instead of model.zero_grad() or optimizer.zero_grad()": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
"#,
    check,
};

/// The file works with `.grad` tensors itself (accumulates into them, reads them): zeros may
/// be what it needs.
fn uses_grad_tensors(ctx: &Context) -> bool {
    let text = &ctx.index.source.text;
    [
        ".grad.", ".grad[", ".grad +=", ".grad -=", ".grad *=", ".grad /=", ".grad)",
    ]
    .iter()
    .any(|w| text.contains(w))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if uses_grad_tensors(ctx) {
        return;
    }
    let mut reported = Vec::new();
    for step in training_steps(ctx) {
        for event in step.lp.events_of(|k| k == CallKind::ZeroGrad) {
            if event.via.is_some() || reported.contains(&event.call) {
                continue;
            }
            let call = &index.calls[event.call];
            let keeps_zeros = call
                .keyword("set_to_none")
                .and_then(boolean)
                .is_some_and(|v| !v);
            if !keeps_zeros {
                continue;
            }
            reported.push(event.call);
            let message = "`zero_grad(set_to_none=False)` fills every gradient with zeros on each step; the default (`set_to_none=True` since PyTorch 2.0) frees them instead, so backward writes rather than adds";
            let only_argument = call.expr.arguments.len() == 1;
            let fix = Fix::new("Let `zero_grad()` set the gradients to `None`");
            let fix = if only_argument {
                fix.with_replacement(format!("{}()", ctx.text(call.expr.func.range())))
            } else {
                fix
            };
            ctx.report(call.range(), message, Some(fix));
        }
    }
}
