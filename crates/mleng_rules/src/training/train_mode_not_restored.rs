use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::evaluation::Mode;

use super::epoch_facts::{epochs, model_escapes};
use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN015",
    name: "train-mode-not-restored",
    area: Area::Training,
    severity: Severity::Error,
    fixable: false,
    summary:
        "model.eval() inside the epoch loop with no model.train() before the next epoch's training.",
    docs: r#"## What it does
Finds epoch loops (a loop around the batch training loop, or around a call to a local function
that trains) in which the model is put in evaluation mode (`model.eval()` or `model.train(False)`,
directly or in a local helper such as `validate()`) but nothing in the epoch, including the
training helper, puts it back with `model.train()`.

## Why is this bad?
`eval()` is sticky. From the second epoch on, the model trains in evaluation mode: dropout is off
(no regularisation) and BatchNorm normalises with its frozen running statistics instead of batch
statistics and stops updating them. Training still converges, just to a worse model, and the
cause is invisible in the loss curve. The usual shape: `model.train()` once before the epoch loop,
`model.eval()` for validation inside it.

## Example
```python
model.train()
for epoch in range(epochs):
    for x, y in train_loader:
        ...
    model.eval()
    with torch.no_grad():
        validate(model, val_loader)
```

## Use instead
```python
for epoch in range(epochs):
    model.train()
    for x, y in train_loader:
        ...
    model.eval()
    with torch.no_grad():
        validate(model, val_loader)
```

## Known problems
If the epoch passes the model to a function defined in another module, that function may call
`train()`, so nothing is reported. Only local helpers are followed (two levels deep).

## References
- PyTorch `nn.Module.train` / `eval` (affects Dropout, BatchNorm): <https://pytorch.org/docs/stable/generated/torch.nn.Module.html#torch.nn.Module.eval>
- PyTorch tutorial, optimization loop (`model.train()` at the start of every training pass): <https://pytorch.org/tutorials/beginner/basics/optimization_tutorial.html#full-implementation>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    if ctx.is_test_file() {
        return;
    }
    for epoch in epochs(index) {
        let switches: Vec<_> = epoch.switches(index).collect();
        if switches.iter().any(|(_, m)| *m == Mode::Train) {
            continue;
        }
        let Some(&(eval_call, _)) = switches.iter().find(|(_, m)| *m == Mode::Eval) else {
            continue;
        };
        let call = &index.calls[eval_call];
        let Some(model) = call.receiver.clone() else {
            continue;
        };
        let called = format!("{model}(");
        let trains_model = epoch
            .training
            .iter()
            .any(|r| ctx.text(*r).contains(&called))
            || ctx.text(index.loops[epoch.loop_id].range).contains(&called);
        if !trains_model || model_escapes(index, &epoch, &model) {
            continue;
        }
        let eval_text = ctx.text(call.range()).to_string();
        let header = ctx.text(index.loops[epoch.loop_id].header).to_string();
        let where_ = if index.loops[epoch.loop_id]
            .range
            .contains_range(call.range())
        {
            "in"
        } else {
            "in a helper called by"
        };
        let message = format!(
            "`{eval_text}` runs {where_} the epoch loop `{header}` ({}) and nothing calls `{model}.train()` before the next epoch: from the second epoch on the model trains in eval mode (no dropout, frozen BatchNorm statistics)",
            ctx.where_is(index.loops[epoch.loop_id].header)
        );
        let fix = Fix::new(format!(
            "Call `{model}.train()` at the start of every epoch's training pass"
        ))
        .with_example(format!("{header}:\n    {model}.train()\n    ...  # training\n    {eval_text}\n    ...  # validation"));
        ctx.report(call.range(), message, Some(fix));
    }
}
