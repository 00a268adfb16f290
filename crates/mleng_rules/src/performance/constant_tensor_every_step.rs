use mleng_diagnostics::{Area, Fix, Severity};
use mleng_knowledge::performance::{TENSORS_FROM_DATA, TENSOR_FACTORIES};
use mleng_python::index::literals::{numbers, unchain};
use mleng_python::index::{CallId, TrainingScope};
use ruff_python_ast::{Expr, ExprCall};
use ruff_text_size::TextRange;

use super::hot_path::{every_step, training_steps, Step};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF012",
    name: "constant-tensor-every-step",
    area: Area::Performance,
    severity: Severity::Info,
    fix: None,
    summary: "The same constant tensor is built and copied to the GPU on every training step: build it on the device once, before the loop.",
    docs: r#"## What it does
Finds, on every step of a training loop (not under a condition such as
`if step % 100 == 0:`), a constant tensor copied to a device:
- `torch.tensor([0.485, 0.456, 0.406], device=device)` or `torch.tensor(MEAN).to(device)`
  whose data is a literal list of numbers or a module-level constant bound to one;
- `weights.to(device)` / `weights.cuda()` of a name bound before the loop to a tensor built on
  the CPU (`torch.tensor(...)`, `torch.from_numpy(...)`, `torch.ones(...)` without `device`)
  and not assigned in the loop (`weights = weights.to(device)` moves it once, and is not
  reported).

## Why is this bad?
Each step then allocates a host tensor, copies it from pageable memory to the GPU and
allocates device memory for it, although the value never changes. The copy is small, but it
is a host-to-device transfer on every step in the middle of the step's work, and the
allocation churn adds up over many steps. The PyTorch performance tuning guide recommends
creating tensors directly on the target device and avoiding needless CPU-GPU transfers.
The saving is small in absolute terms (a few microseconds per step for a small constant):
it matters most for short steps.

The effect is documented (the tuning guide); it was not measured here (no GPU).

## Example
```python
for images, labels in loader:
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
    images = (images.to(device) - mean) / std
    ...
```

## Use instead
```python
mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1)
for images, labels in loader:
    images = (images.to(device) - mean) / std
    ...
```

## References
- PyTorch Performance Tuning Guide, "Create tensors directly on the target device" and "Avoid unnecessary CPU-GPU synchronization": <https://pytorch.org/tutorials/recipes/recipes/tuning_guide.html>
- CUDA semantics, "Best practices": <https://pytorch.org/docs/stable/notes/cuda.html#best-practices>
"#,
    check,
};

/// A literal list of at least two numbers, or a module-level name bound to one.
fn constant_data(ctx: &Context, data: &Expr) -> bool {
    let literal = |e: &Expr| {
        matches!(e, Expr::List(_) | Expr::Tuple(_) | Expr::BinOp(_))
            && numbers(e).is_some_and(|n| n.len() >= 2)
    };
    match data {
        Expr::Name(name) => {
            let bound: Vec<_> = ctx
                .index
                .bindings
                .iter()
                .filter(|b| b.target == name.id.as_str())
                .collect();
            matches!(bound.as_slice(), [b] if b.function.is_none() && literal(b.value))
        }
        other => literal(other),
    }
}

/// `torch.tensor(<constant>, ...)`.
fn constant_tensor(ctx: &Context, call: &ExprCall) -> bool {
    ctx.index
        .qualified_name(&call.func)
        .is_some_and(|q| TENSORS_FROM_DATA.contains(&q.as_str()))
        && call.arguments.args.len() == 1
        && constant_data(ctx, &call.arguments.args[0])
}

/// `name` is bound only before the loop, in the loop's function, to a tensor built on the CPU.
fn cpu_tensor_bound_before(ctx: &Context, step: &Step, name: &str, loop_range: TextRange) -> bool {
    let index = ctx.index;
    let bound: Vec<_> = index
        .bindings
        .iter()
        .filter(|b| b.function == step.lp.function && b.target == name)
        .collect();
    if bound.is_empty() || bound.iter().any(|b| b.range.end() > loop_range.start()) {
        return false;
    }
    bound.iter().all(|b| match b.value {
        Expr::Call(call) => {
            let base = unchain(call);
            std::ptr::eq(base, call)
                && index
                    .qualified_name(&base.func)
                    .is_some_and(|q| TENSOR_FACTORIES.contains(&q.as_str()))
                && base
                    .arguments
                    .keywords
                    .iter()
                    .all(|k| k.arg.as_ref().is_none_or(|a| a.as_str() != "device"))
        }
        _ => false,
    })
}

/// What the copy at `id` rebuilds every step, if it is a constant.
fn constant_copy(ctx: &Context, step: &Step, id: CallId, loop_range: TextRange) -> Option<String> {
    let index = ctx.index;
    let call = &index.calls[id];
    // `torch.tensor(CONST, device=device)`
    if constant_tensor(ctx, call.expr) && call.keyword("device").is_some() {
        return Some(ctx.text(call.range()).to_string());
    }
    let copy = index.device_copy(id)?;
    let Expr::Attribute(attr) = index.calls[copy.call].expr.func.as_ref() else {
        return None;
    };
    match attr.value.as_ref() {
        // `torch.tensor(CONST).to(device)`
        Expr::Call(inner) if constant_tensor(ctx, inner) => {
            Some(ctx.text(call.range()).to_string())
        }
        // `weights.to(device)` of a CPU tensor bound before the loop, not reassigned from the
        // copy (`weights = weights.to(device)` moves it once).
        Expr::Name(name) => {
            let name = name.id.as_str();
            let assigned_back = index.bindings.iter().any(|b| {
                b.target == name
                    && b.function == step.lp.function
                    && loop_range.contains_range(b.range)
            });
            (!assigned_back && cpu_tensor_bound_before(ctx, step, name, loop_range))
                .then(|| ctx.text(call.range()).to_string())
        }
        _ => None,
    }
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for step in training_steps(ctx) {
        let TrainingScope::Loop(lid) = step.lp.scope else {
            continue;
        };
        let loop_range = index.loops[lid].range;
        for id in 0..index.calls.len() {
            if !every_step(ctx, &step, id) {
                continue;
            }
            let Some(text) = constant_copy(ctx, &step, id, loop_range) else {
                continue;
            };
            let message = format!(
                "`{text}` builds the same tensor and copies it to the device on every training step"
            );
            let fix = Fix::new("Build it on the device once, before the loop, and reuse it");
            ctx.report(index.calls[id].range(), message, Some(fix));
        }
    }
}
