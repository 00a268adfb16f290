use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::{CallKind, TrainingScope};
use ruff_python_ast::Expr;
use ruff_text_size::Ranged;

use super::hot_path::{every_step, training_steps};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "PRF005",
    name: "optimizer-built-every-step",
    area: Area::Performance,
    severity: Severity::Warning,
    fix: None,
    summary: "The optimizer is constructed inside the training loop and stepped in the same iteration: its state (momentum, Adam moments) restarts every step.",
    docs: r#"## What it does
Finds a `torch.optim` optimizer over a model's parameters constructed on every step of a
training loop (in the loop body, not under a condition) and stepped in that same iteration.

## Why is this bad?
An optimizer keeps state across steps: SGD's momentum buffer, Adam's first and second moment
estimates and its step count. Building a new optimizer every step throws that state away, so
momentum never accumulates and Adam's bias correction makes every step an update of about
`lr * sign(grad)`: a different, usually much worse, optimizer than the one configured (and a
learning-rate scheduler attached to the first optimizer no longer drives the one that steps).
It also costs the construction (parameter groups, state allocation) on every step.

The effect follows from the optimizers' definitions in the `torch.optim` docs; it was not
measured here.

## Example
```python
for x, y in loader:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
```

## Use instead
```python
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
for x, y in loader:
    loss = criterion(model(x), y)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
```

## References
- `torch.optim`, "How to use an optimizer" (construct it once, then step): <https://pytorch.org/docs/stable/optim.html#how-to-use-an-optimizer>
- Kingma & Ba, "Adam: A Method for Stochastic Optimization" (moment estimates and bias correction), ICLR 2015: <https://arxiv.org/abs/1412.6980>
"#,
    check,
};

/// `torch.optim.Adam`, `torch.optim.sgd.SGD`: an optimizer class (not a scheduler or a helper).
fn is_optimizer_class(qualified: &str) -> bool {
    let Some(rest) = qualified.strip_prefix("torch.optim.") else {
        return false;
    };
    let last = rest.rsplit('.').next().unwrap_or(rest);
    !rest.contains("lr_scheduler")
        && !rest.contains("swa_utils")
        && last != "Optimizer"
        && last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
}

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for step in training_steps(ctx) {
        if !matches!(step.lp.scope, TrainingScope::Loop(_)) {
            continue;
        }
        let stepped: Vec<String> = step
            .lp
            .events_of(|k| k == CallKind::OptimizerStep)
            .filter(|e| e.via.is_none())
            .filter_map(|e| index.calls[e.call].receiver.clone())
            .collect();
        for binding in &index.bindings {
            let Expr::Call(call) = binding.value else {
                continue;
            };
            // Over a model's parameters (an optimizer over a tensor rebuilt every iteration,
            // as in input optimization, has nothing to keep).
            let over_parameters = call
                .arguments
                .args
                .first()
                .or_else(|| {
                    call.arguments
                        .keywords
                        .iter()
                        .find(|k| k.arg.as_ref().is_some_and(|a| a.as_str() == "params"))
                        .map(|k| &k.value)
                })
                .is_some_and(|a| ctx.text(a.range()).contains("parameters"));
            if !over_parameters
                || !stepped.contains(&binding.target)
                || !index
                    .qualified_name(&call.func)
                    .is_some_and(|q| is_optimizer_class(&q))
            {
                continue;
            }
            let Some(id) = index.call_id_at(call.range()) else {
                continue;
            };
            if !every_step(ctx, &step, id) {
                continue;
            }
            let target = &binding.target;
            let message = format!(
                "`{target}` is constructed on every training step and stepped in the same iteration: its state (momentum, Adam's moment estimates) restarts every step"
            );
            let fix = Fix::new(format!(
                "Construct `{target}` once, before the loop, and reuse it"
            ));
            ctx.report(call.range(), message, Some(fix));
        }
    }
}
