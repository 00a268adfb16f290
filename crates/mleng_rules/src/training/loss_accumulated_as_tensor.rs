use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::training::TrainingLoop;
use mleng_python::index::CallKind;
use mleng_python::SemanticIndex;
use ruff_python_ast::{Expr, Operator};
use ruff_text_size::{TextRange, TextSize};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN014",
    name: "loss-accumulated-as-tensor",
    area: Area::Training,
    severity: Severity::Warning,
    fix: Some(Applicability::Unsafe),
    summary: "The training loss tensor is summed (`total += loss`) or appended to a list across iterations, keeping every iteration's autograd graph alive.",
    docs: r#"## What it does
Finds, in a training loop, the tensor that `backward()` differentiates being added to an
accumulator that lives across iterations (`total_loss += loss`) or appended to a list
(`losses.append(loss)`), without `.item()` or `.detach()` and outside `torch.no_grad()`.

## Why is this bad?
`loss` carries its autograd history. `total_loss += loss` makes `total_loss` a tensor whose
history links to every iteration's graph, and a list of losses holds every graph: memory grows
through the epoch (the PyTorch FAQ's first entry on out-of-memory errors), and anything that
later calls `backward()` on the sum would differentiate through all of them. The number you
wanted is a Python float.

## Example
```python
total_loss = 0.0
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    total_loss += loss
```

## Use instead
```python
total_loss = 0.0
for x, y in loader:
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    total_loss += loss.item()  # or loss.detach() to avoid a GPU sync per step
```

## Fix
Unsafe: `total += loss` becomes `total += loss.item()` and `losses.append(loss)` becomes
`losses.append(loss.detach())`. Code after the loop that treats the total as a tensor
(`.item()`, `.backward()`, `torch.stack`) must change with it, so review the fix.

## References
- PyTorch FAQ, "Don't accumulate history across your training loop": <https://pytorch.org/docs/stable/notes/faq.html#my-model-reports-cuda-runtime-error-2-out-of-memory>
"#,
    check,
};

/// The simple name of the tensor a backward event differentiates.
fn loss_name(ctx: &Context, call_id: usize) -> Option<String> {
    let call = &ctx.index.calls[call_id];
    let expr = match call.expr.func.as_ref() {
        Expr::Attribute(attr) if call.method == Some("backward") && call.arg(0).is_none() => {
            match attr.value.as_ref() {
                Expr::Call(inner) => inner.arguments.args.first()?,
                other => other,
            }
        }
        _ => call.arg(0)?,
    };
    match expr {
        Expr::Name(name) => Some(name.id.as_str().to_string()),
        _ => None,
    }
}

/// The start of the binding of `name` in force at `at` (same function).
fn binding_at(
    index: &SemanticIndex,
    lp: &TrainingLoop,
    name: &str,
    at: TextSize,
) -> Option<TextSize> {
    index
        .bindings
        .iter()
        .filter(|b| b.function == lp.function && b.target == name && b.range.end() <= at)
        .map(|b| b.range.start())
        .max()
}

/// The accumulator lives across iterations: not rebound inside the loop.
fn lives_across_iterations(index: &SemanticIndex, lp: &TrainingLoop, target: &str) -> bool {
    !index
        .bindings
        .iter()
        .any(|b| b.target == target && lp.range.contains_range(b.range))
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    for lp in index.training_loops.clone() {
        if !matches!(lp.scope, mleng_python::index::TrainingScope::Loop(_)) {
            continue;
        }
        let mut reported: Vec<TextRange> = Vec::new();
        for backward in lp.events_of(|k| k == CallKind::Backward) {
            if backward.via.is_some() {
                continue;
            }
            let Some(loss) = loss_name(ctx, backward.call) else {
                continue;
            };
            let at_backward = binding_at(index, &lp, &loss, backward.position);
            let same_value = |at: TextSize| binding_at(index, &lp, &loss, at) == at_backward;
            for aug in &index.evaluation.aug_assigns {
                if aug.op != Operator::Add
                    || !lp.range.contains_range(aug.range)
                    || reported.contains(&aug.range)
                    || !matches!(aug.value, Expr::Name(n) if n.id.as_str() == loss)
                    || aug.target == loss
                    || index.evaluation.grad_free(aug.range)
                    || !same_value(aug.range.start())
                    || !lives_across_iterations(index, &lp, &aug.target)
                {
                    continue;
                }
                reported.push(aug.range);
                let target = aug.target.clone();
                let message = format!(
                    "`{target} += {loss}` adds the loss tensor with its autograd graph: `{target}` keeps every iteration's graph alive through the loop"
                );
                let fix = Fix::new(format!(
                    "Accumulate a number: `{loss}.item()` (or `{loss}.detach()`)"
                ))
                .with_replacement(format!("{target} += {loss}.item()"));
                ctx.report(aug.range, message, Some(fix));
            }
            for call in &index.calls {
                if call.method != Some("append")
                    || !lp.range.contains_range(call.range())
                    || reported.contains(&call.range())
                    || !matches!(call.arg(0), Some(Expr::Name(n)) if n.id.as_str() == loss)
                    || call.expr.arguments.args.len() != 1
                    || index.evaluation.grad_free(call.range())
                    || !same_value(call.start())
                {
                    continue;
                }
                let Some(list) = call.receiver.clone() else {
                    continue;
                };
                if !lives_across_iterations(index, &lp, &list) {
                    continue;
                }
                reported.push(call.range());
                let message = format!(
                    "`{list}.append({loss})` stores the loss tensor with its autograd graph: the list keeps every iteration's graph alive"
                );
                let fix = Fix::new(format!("Store `{loss}.detach()` (or `{loss}.item()`)"))
                    .with_replacement(format!("{list}.append({loss}.detach())"));
                ctx.report(call.range(), message, Some(fix));
            }
        }
    }
}
