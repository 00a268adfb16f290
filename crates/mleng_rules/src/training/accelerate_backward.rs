use mleng_diagnostics::{Applicability, Area, Fix, Severity};
use mleng_python::index::CallKind;
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN011",
    name: "accelerate-backward-bypassed",
    area: Area::Training,
    severity: Severity::Error,
    fix: Some(Applicability::Safe),
    summary: "Objects prepared with accelerate, but the loop calls loss.backward() instead of accelerator.backward(loss).",
    docs: r#"## What it does
Finds training loops that use an `accelerate.Accelerator` (the loop's function calls
`accelerator.prepare(...)`, or the loop uses the accelerator) but call `loss.backward()` directly
instead of `accelerator.backward(loss)`.

## Why is this bad?
`accelerator.backward` is where Accelerate applies what the configuration promises: with
`mixed_precision="fp16"` it scales the loss through its `GradScaler` (the prepared optimizer then
*unscales* the gradients in `optimizer.step()`, so unscaled gradients from a plain `backward()`
are divided by the loss scale, 65536 at the start, and the model barely moves); with
`gradient_accumulation_steps` it divides the loss by the number of steps; with DeepSpeed it calls
the engine's backward, which a plain `loss.backward()` bypasses entirely. The script runs, and
only the results are wrong, often only once the config changes.

## Example
```python
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
for batch in loader:
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    optimizer.zero_grad()
```

## Use instead
```python
model, optimizer, loader = accelerator.prepare(model, optimizer, loader)
for batch in loader:
    loss = model(**batch).loss
    accelerator.backward(loss)
    optimizer.step()
    optimizer.zero_grad()
```

## Fix
Safe: `loss.backward()` becomes `accelerator.backward(loss)` (the same expression is passed),
which is what the prepared model and optimizer expect.

## References
- Accelerate quick tour, "replace `loss.backward()` by `accelerator.backward(loss)`": <https://huggingface.co/docs/accelerate/quicktour>
- `Accelerator.backward` (scales for mixed precision, divides for gradient accumulation): <https://huggingface.co/docs/accelerate/package_reference/accelerator#accelerate.Accelerator.backward>
"#,
    check,
};

fn is_accelerator(ty: &str) -> bool {
    ty == "accelerate.Accelerator" || ty == "accelerate.accelerator.Accelerator"
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if !index.source.text.contains("prepare") {
        return;
    }
    if ctx.is_test_file() {
        return;
    }
    // `prepare` calls on an Accelerator: (receiver name, function).
    let prepares: Vec<(String, Option<usize>)> = index
        .calls
        .iter()
        .filter(|c| c.method == Some("prepare"))
        .filter(|c| c.receiver_type.as_deref().is_some_and(is_accelerator))
        .filter_map(|c| Some((c.receiver.clone()?, c.function)))
        .collect();
    if prepares.is_empty() {
        return;
    }
    for lp in index.training_loops.clone() {
        let accelerator = prepares.iter().find_map(|(name, function)| {
            let same_function = *function == lp.function;
            let used_in_loop = index
                .calls
                .iter()
                .any(|c| lp.range.contains_range(c.range()) && c.receiver.as_deref() == Some(name));
            (same_function || used_in_loop).then(|| name.clone())
        });
        let Some(accelerator) = accelerator else {
            continue;
        };
        for e in lp.events_of(|k| k == CallKind::Backward) {
            if e.via.is_some() {
                continue;
            }
            let call = &index.calls[e.call];
            if call.method != Some("backward") || call.arg(0).is_some() {
                continue;
            }
            let Expr::Attribute(attr) = call.expr.func.as_ref() else {
                continue;
            };
            // `scaler.scale(loss).backward()` is a different mistake; only `<loss>.backward()`.
            if matches!(attr.value.as_ref(), Expr::Call(_)) {
                continue;
            }
            let mut loss = ctx.text(attr.value.range()).to_string();
            if let Some(inner) = loss.strip_prefix('(').and_then(|l| l.strip_suffix(')')) {
                loss = inner.to_string();
            }
            let text = ctx.text(call.range()).to_string();
            let message = format!(
                "`{text}` bypasses `{accelerator}`: with fp16 the gradients are not scaled (and are then unscaled by the prepared optimizer), with gradient accumulation the loss is not divided, with DeepSpeed the engine's backward is skipped"
            );
            let fix = Fix::new(format!("Use `{accelerator}.backward({loss})`"))
                .with_replacement(format!("{accelerator}.backward({loss})"));
            ctx.report(call.range(), message, Some(fix));
        }
    }
}
