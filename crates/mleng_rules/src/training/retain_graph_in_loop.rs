use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::boolean;
use mleng_python::index::training::TrainingLoop;
use mleng_python::index::CallKind;
use ruff_text_size::Ranged;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN020",
    name: "retain-graph-in-loop",
    area: Area::Training,
    severity: Severity::Info,
    fix: None,
    summary: "backward(retain_graph=True) with a single backward per iteration, or two backward passes through one graph where summing the losses would do: memory and time spent for nothing.",
    docs: r#"## What it does
Finds `loss.backward(retain_graph=True)` in a training loop whose iteration has only that one
backward pass; and two backward passes through the same graph in one iteration,
`loss_a.backward(retain_graph=True)` then `loss_b.backward()`, with nothing between them that
uses or changes the gradients (no optimizer step, `zero_grad`, clipping, unscaling, `.grad` read
or `torch.autograd.grad`), where one backward of `loss_a + loss_b` would do.

## Why is this bad?
`retain_graph=True` keeps the saved activations of the whole forward graph after backward. That is
needed only when a second `backward()` runs through the same graph in the same iteration. With a
single backward it keeps an extra forward's worth of activations alive until the next iteration
replaces them (peak memory up to doubled), and it is often added to silence "Trying to backward
through the graph a second time", an error that points to a tensor carried across iterations
(a hidden state that should be `.detach()`ed), which it hides instead of fixing.

Two backward passes through one graph cost a second traversal of the shared part (for a
multi-task head on a shared backbone, the whole backbone twice) and keep the graph's activations
alive until the second one. Gradients accumulate by addition in `.grad`, so
`(loss_a + loss_b).backward()` leaves exactly the same gradients as the two calls, with one pass
and no retained graph. Two passes are needed only when something uses the per-loss gradients in
between (gradient surgery such as PCGrad, per-task gradient norms), which the rule leaves alone.

## Example
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward(retain_graph=True)
    optimizer.step()
```

```python
for x, (labels, boxes) in loader:
    optimizer.zero_grad()
    logits, box_pred = model(x)
    F.cross_entropy(logits, labels).backward(retain_graph=True)
    F.smooth_l1_loss(box_pred, boxes).backward()
    optimizer.step()
```

## Use instead
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
```
For recurrent models carried across batches, detach the state: `hidden = hidden.detach()`.
```python
for x, (labels, boxes) in loader:
    optimizer.zero_grad()
    logits, box_pred = model(x)
    loss = F.cross_entropy(logits, labels) + F.smooth_l1_loss(box_pred, boxes)
    loss.backward()
    optimizer.step()
```

## Known problems
Only two `x.backward()` calls written directly in the loop body are compared; backward passes
inside helper functions, or under different conditions, are not.

## References
- PyTorch autograd mechanics (gradients accumulate into `.grad`): <https://pytorch.org/docs/stable/notes/autograd.html>
- PyTorch `torch.Tensor.backward` (`retain_graph`: "in nearly all cases setting this option to True is not needed and often can be worked around in a much more efficient way"): <https://pytorch.org/docs/stable/generated/torch.Tensor.backward.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for lp in index.training_loops.clone() {
        let backwards: Vec<_> = lp.events_of(|k| k == CallKind::Backward).collect();
        if backwards.len() >= 2 {
            double_backward(ctx, &lp);
            continue;
        }
        if backwards.len() != 1 || backwards[0].via.is_some() {
            continue;
        }
        let call = &index.calls[backwards[0].call];
        if call.keyword("retain_graph").and_then(boolean) != Some(true) {
            continue;
        }
        // `torch.autograd.grad(...)` elsewhere in the iteration may reuse the graph (gradient
        // penalties): leave those alone.
        if ctx.text(lp.range).contains("autograd.grad") {
            continue;
        }
        let text = ctx.text(call.range()).to_string();
        let Some(receiver) = text
            .strip_suffix(')')
            .and_then(|t| t.rsplit_once("backward("))
        else {
            continue;
        };
        let args: Vec<&str> = receiver
            .1
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty() && !a.starts_with("retain_graph"))
            .collect();
        let replacement = format!("{}backward({})", receiver.0, args.join(", "));
        let message = format!(
            "`{text}` is the only backward pass of the iteration: retaining the graph keeps its activations alive for nothing"
        );
        let fix = Fix::new("Drop retain_graph=True (detach state carried across iterations instead)")
            .with_example(format!(
                "# state carried across iterations (an RNN hidden state): cut its history\nhidden = hidden.detach()\n{replacement}"
            ));
        ctx.report(call.range(), message, Some(fix));
    }
}

/// `a.backward(retain_graph=True)` followed by `b.backward()` in the same iteration, with nothing
/// between them that uses or changes the gradients (no step, `zero_grad`, clipping, unscaling,
/// `.grad` read, `torch.autograd.grad`): gradients add up, so `(a + b).backward()` is the same
/// update with one backward pass through the shared graph and nothing retained.
fn double_backward(ctx: &mut Context, lp: &TrainingLoop) {
    let index = ctx.index;
    let events = &lp.events;
    for (i, first) in events.iter().enumerate() {
        if first.kind != CallKind::Backward || first.via.is_some() {
            continue;
        }
        let a = &index.calls[first.call];
        if !plain_backward(a) || a.keyword("retain_graph").and_then(boolean) != Some(true) {
            continue;
        }
        // The next event that is not the scaling of the second loss must be its backward.
        let Some(second) = events[i + 1..].iter().find(|e| e.kind != CallKind::Scale) else {
            continue;
        };
        if second.kind != CallKind::Backward || second.via.is_some() {
            continue;
        }
        let b = &index.calls[second.call];
        if !plain_backward(b) || b.loops != a.loops || b.start() <= a.start() {
            continue;
        }
        // Both run on the same path: no `if` inside the loop holds one and not the other.
        let lp_range = lp.range;
        let guards = |at: ruff_text_size::TextRange| -> Vec<ruff_text_size::TextRange> {
            index
                .flow
                .guards(at)
                .filter(|(block, _)| lp_range.contains_range(block.range))
                .map(|(block, in_body)| if in_body { block.body } else { block.range })
                .collect()
        };
        if guards(a.range()) != guards(b.range()) {
            continue;
        }
        if index.flow.off_normal_path(a.range(), b.start())
            || index.flow.off_normal_path(b.range(), a.start())
        {
            continue;
        }
        let between = ctx.text(ruff_text_size::TextRange::new(a.range().end(), b.start()));
        if between.contains(".grad") || between.contains("autograd") || between.contains("hook") {
            continue;
        }
        if ctx.text(lp.range).contains("autograd.grad") {
            continue;
        }
        let (Some(ra), Some(rb)) = (receiver_text(ctx, a), receiver_text(ctx, b)) else {
            continue;
        };
        let a_text = ctx.text(a.range()).to_string();
        let b_text = ctx.text(b.range()).to_string();
        let summed = match (scaled(&ra), scaled(&rb)) {
            (Some((sa, la)), Some((_, lb))) => format!("{sa}({la} + {lb}).backward()"),
            _ => format!("({ra} + {rb}).backward()"),
        };
        let message = format!(
            "`{a_text}` and `{b_text}` ({}) are two backward passes through the same graph in one iteration, with nothing using the gradients in between: gradients add up, so one backward of the summed loss gives the same update without retaining the graph",
            ctx.where_is(b.range())
        );
        let fix = Fix::new("Sum the losses and call backward once").with_example(summed);
        ctx.report(a.range(), message, Some(fix));
    }
}

/// `x.backward()` with at most a `retain_graph=` keyword (no gradient, `inputs` or
/// `create_graph`).
fn plain_backward(call: &mleng_python::index::Call) -> bool {
    call.method == Some("backward")
        && call.expr.arguments.args.is_empty()
        && call.expr.arguments.keywords.iter().all(|kw| {
            kw.arg
                .as_ref()
                .is_some_and(|a| a.as_str() == "retain_graph")
        })
}

/// The text of the tensor `backward()` is called on.
fn receiver_text(ctx: &Context, call: &mleng_python::index::Call) -> Option<String> {
    match call.expr.func.as_ref() {
        ruff_python_ast::Expr::Attribute(attr) => Some(ctx.text(attr.value.range()).to_string()),
        _ => None,
    }
}

/// `scaler.scale(loss)` -> (`scaler.scale`, `loss`).
fn scaled(receiver: &str) -> Option<(&str, &str)> {
    let inner = receiver.strip_suffix(')')?;
    let (func, arg) = inner.split_once('(')?;
    (func.ends_with(".scale") && !arg.contains('(')).then_some((func, arg))
}
