use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::flow::IfBlock;
use mleng_python::index::training::{Event, TrainingLoop};
use mleng_python::index::CallKind;
use ruff_python_ast::{Expr, Operator};
use ruff_text_size::{Ranged, TextRange};

use super::loop_facts::{call_text, optimizer_name};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN006",
    name: "grad-accumulation-broken",
    area: Area::Training,
    severity: Severity::Error,
    fix: None,
    summary: "Gradient accumulation that accumulates nothing (zero_grad every micro-batch) or sums N losses without dividing by N.",
    docs: r#"## What it does
Finds gradient accumulation, an optimizer step guarded by a modulo test
(`if (i + 1) % accum_steps == 0: optimizer.step()`) while `backward()` runs on every
micro-batch, that is broken in one of two ways:

- **error**: `zero_grad()` runs unconditionally on every micro-batch, so the gradients of the
  earlier micro-batches are wiped and each step uses only the last one;
- **warning**: the loss is never divided by the number of accumulation steps (no `/ accum_steps`
  anywhere in the file), so the step uses the *sum* of N micro-batch gradients.

## Why is this bad?
In the first case accumulation does nothing except throw away N-1 of every N batches of compute:
the effective batch size is the micro-batch, not the one you configured, and the learning rate
tuned for the large batch is too high for it. In the second case the gradient is N times larger
than the mean over the large batch: with SGD the effective learning rate is N times the one
configured, and gradient clipping thresholds and loss-scale behaviour change with N (Adam is
mostly invariant to the scale, which is why this often goes unnoticed until the optimizer changes).

## Example
```python
for i, (x, y) in enumerate(loader):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    if (i + 1) % accum_steps == 0:
        optimizer.step()
```

## Use instead
```python
for i, (x, y) in enumerate(loader):
    loss = criterion(model(x), y) / accum_steps
    loss.backward()
    if (i + 1) % accum_steps == 0:
        optimizer.step()
        optimizer.zero_grad()
```

## Known problems
Only modulo-guarded steps are recognised as accumulation. A loss deliberately built with
`reduction="sum"` and normalised elsewhere (by a token count) is reported by the warning when the
accumulation count never appears in a division; suppress it there.

## References
- Hugging Face, "Gradient accumulation" (loss divided by the number of steps): <https://huggingface.co/docs/accelerate/usage_guides/gradient_accumulation>
- PyTorch AMP examples, gradient accumulation: <https://pytorch.org/docs/stable/notes/amp_examples.html#gradient-accumulation>
"#,
    check,
};

fn has_modulo(expr: &Expr) -> Option<&Expr> {
    match expr {
        Expr::BinOp(b) if b.op == Operator::Mod => Some(&b.right),
        Expr::BinOp(b) => has_modulo(&b.left).or_else(|| has_modulo(&b.right)),
        Expr::Compare(c) => {
            has_modulo(&c.left).or_else(|| c.comparators.iter().find_map(has_modulo))
        }
        Expr::BoolOp(b) => b.values.iter().find_map(has_modulo),
        Expr::UnaryOp(u) => has_modulo(&u.operand),
        _ => None,
    }
}

fn event_range(ctx: &Context, e: &Event) -> TextRange {
    ctx.index.calls[e.via.unwrap_or(e.call)].range()
}

/// The modulo-guarded `if` around the step, inside the loop, that does not contain any backward.
fn accumulation_guard<'c>(
    ctx: &'c Context,
    lp: &TrainingLoop,
    step: &Event,
) -> Option<(&'c IfBlock<'c>, &'c Expr)> {
    let index = ctx.index;
    let step_range = event_range(ctx, step);
    index
        .flow
        .guards(step_range)
        .filter(|(block, in_body)| *in_body && lp.range.contains_range(block.range))
        .find_map(|(block, _)| {
            let divisor = has_modulo(block.test)?;
            let backward_inside = lp
                .events_of(|k| k == CallKind::Backward)
                .any(|b| block.range.contains_range(event_range(ctx, b)));
            (!backward_inside).then_some((block, divisor))
        })
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    for lp in index.training_loops.clone() {
        let Some(step) = lp
            .events_of(CallKind::is_step)
            .find(|s| {
                !index
                    .flow
                    .off_normal_path(event_range(ctx, s), lp.range.end())
            })
            .copied()
        else {
            continue;
        };
        let Some((guard, divisor)) = accumulation_guard(ctx, &lp, &step) else {
            continue;
        };
        let guard_test = ctx.text(guard.test.range()).to_string();
        let divisor_text = ctx.text(divisor.range()).to_string();
        let optimizer = optimizer_name(ctx, &lp);
        let step_text =
            call_text(ctx, &lp, CallKind::is_step).unwrap_or_else(|| format!("{optimizer}.step()"));
        let backward = call_text(ctx, &lp, |k| k == CallKind::Backward)
            .unwrap_or_else(|| "loss.backward()".into());
        // zero_grad on every micro-batch: not under any `if` of the loop, on the normal path.
        let every_batch_zero = lp.events_of(|k| k == CallKind::ZeroGrad).find(|z| {
            let range = event_range(ctx, z);
            !index.flow.off_normal_path(range, lp.range.end())
                && !index
                    .flow
                    .guards(range)
                    .any(|(block, _)| lp.range.contains_range(block.range))
        });
        if let Some(zero) = every_batch_zero {
            let zero_range = event_range(ctx, zero);
            let zero_text = ctx.text(zero_range).to_string();
            let message = format!(
                "`{step_text}` runs only when `{guard_test}`, but `{zero_text}` clears the gradients on every micro-batch: nothing accumulates, each step uses only the last micro-batch"
            );
            let fix =
                Fix::new("Clear the gradients right after the guarded step").with_example(format!(
                    "{backward}\nif {guard_test}:\n    {step_text}\n    {optimizer}.zero_grad()"
                ));
            ctx.report(zero_range, message, Some(fix));
            continue;
        }
        if divides_by(ctx, divisor) {
            continue;
        }
        let Some(backward_event) = lp.first(|k| k == CallKind::Backward) else {
            continue;
        };
        let backward_range = event_range(ctx, backward_event);
        let loss = loss_text(ctx, backward_event).unwrap_or_else(|| "loss".into());
        let message = format!(
            "gradients of `{divisor_text}` micro-batches are summed before `{step_text}` (`if {guard_test}`), but `{loss}` is never divided by `{divisor_text}`: the step uses `{divisor_text}` times the mean gradient"
        );
        let fix = Fix::new(format!(
            "Divide the loss by `{divisor_text}` before backward()"
        ))
        .with_example(format!("{loss} = {loss} / {divisor_text}\n{backward}"));
        ctx.report_with_severity(backward_range, Severity::Warning, message, Some(fix));
    }
}

/// The loss a backward event differentiates (`loss` in `loss.backward()`,
/// `scaler.scale(loss).backward()`, `accelerator.backward(loss)`).
fn loss_text(ctx: &Context, e: &Event) -> Option<String> {
    let call = &ctx.index.calls[e.call];
    let expr = match call.expr.func.as_ref() {
        Expr::Attribute(attr) if call.method == Some("backward") && call.arg(0).is_none() => {
            match attr.value.as_ref() {
                Expr::Call(inner) => inner.arguments.args.first()?,
                other => other,
            }
        }
        _ => call.arg(0)?,
    };
    let text = ctx.text(expr.range());
    (!text.contains('\n')).then(|| text.to_string())
}

/// Does the file divide anything by the accumulation count (`/ accum`, `/= self.accum_steps`,
/// `* (1 / accum)`, `/ float(accum)`)? The last name segment is what we look for.
fn divides_by(ctx: &Context, divisor: &Expr) -> bool {
    let text = ctx.text(divisor.range());
    let needle: String = text
        .rsplit('.')
        .next()
        .unwrap_or(text)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .collect();
    if needle.is_empty() {
        return true;
    }
    let source = &ctx.index.source.text;
    let followed_by_needle = |pos: usize| {
        let rest = &source[pos..];
        let line = rest.split('\n').next().unwrap_or(rest);
        let window: String = line.chars().take(80).collect();
        window.contains(needle.as_str())
    };
    // `/ accum`, `/= accum`, and `loss.div(accum)` / `torch.div(loss, accum)` / `div_`.
    source
        .match_indices('/')
        .any(|(pos, _)| followed_by_needle(pos + 1))
        || source
            .match_indices("div")
            .any(|(pos, _)| followed_by_needle(pos + 3))
}
