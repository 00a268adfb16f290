use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::boolean;
use mleng_python::index::CallKind;

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN020",
    name: "retain-graph-in-loop",
    area: Area::Training,
    severity: Severity::Info,
    fixable: false,
    summary: "backward(retain_graph=True) in a training loop with a single backward per iteration: the graph is kept alive for nothing.",
    docs: r#"## What it does
Finds `loss.backward(retain_graph=True)` in a training loop whose iteration has only that one
backward pass.

## Why is this bad?
`retain_graph=True` keeps the saved activations of the whole forward graph after backward. That is
needed only when a second `backward()` runs through the same graph in the same iteration. With a
single backward it keeps an extra forward's worth of activations alive until the next iteration
replaces them (peak memory up to doubled), and it is often added to silence "Trying to backward
through the graph a second time", an error that points to a tensor carried across iterations
(a hidden state that should be `.detach()`ed), which it hides instead of fixing.

## Example
```python
for x, y in loader:
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward(retain_graph=True)
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

## References
- PyTorch `torch.Tensor.backward` (`retain_graph`: "in nearly all cases setting this option to True is not needed and often can be worked around in a much more efficient way"): <https://pytorch.org/docs/stable/generated/torch.Tensor.backward.html>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for lp in index.training_loops.clone() {
        let backwards: Vec<_> = lp.events_of(|k| k == CallKind::Backward).collect();
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
