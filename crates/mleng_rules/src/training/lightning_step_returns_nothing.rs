use mleng_diagnostics::{Area, Fix, Severity};
use mleng_python::index::literals::{boolean, is_none};

use crate::context::Context;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "TRN012",
    name: "lightning-training-step-returns-nothing",
    area: Area::Training,
    severity: Severity::Error,
    fix: None,
    summary: "A LightningModule.training_step computes a loss but returns nothing: automatic optimization skips every step.",
    docs: r#"## What it does
Finds `training_step` methods of `LightningModule`s with automatic optimization (the class does
not set `self.automatic_optimization = False`) that compute a loss (bind a name containing
`loss`) but never `return` a value.

## Why is this bad?
With automatic optimization, Lightning calls `backward()` and `optimizer.step()` on the loss that
`training_step` returns. Returning `None` means "skip this batch": no gradient, no update, for
every batch of the run. Nothing fails: the loss is logged (often with `self.log`), the progress
bar moves, and the weights never change.

## Example
```python
def training_step(self, batch, batch_idx):
    x, y = batch
    loss = F.cross_entropy(self(x), y)
    self.log("train_loss", loss)
```

## Use instead
```python
def training_step(self, batch, batch_idx):
    x, y = batch
    loss = F.cross_entropy(self(x), y)
    self.log("train_loss", loss)
    return loss
```

## References
- Lightning `LightningModule.training_step` ("`None` - Skip to the next batch"): <https://lightning.ai/docs/pytorch/stable/common/lightning_module.html#training-step>
"#,
    check,
};

fn check(ctx: &mut Context) {
    let index = ctx.index;
    for (cid, class) in index.classes.iter().enumerate() {
        if !class.is_lightning {
            continue;
        }
        let manual = index.bindings.iter().any(|b| {
            b.class == Some(cid)
                && b.target == "self.automatic_optimization"
                && boolean(b.value) != Some(true)
        });
        if manual {
            continue;
        }
        let Some(step) = index.method(cid, "training_step") else {
            continue;
        };
        let returns = index.returns_of(step);
        if returns.iter().any(|r| !is_none(r)) {
            continue;
        }
        let Some(loss) = index
            .bindings
            .iter()
            .filter(|b| b.function == Some(step))
            .find(|b| b.target.to_ascii_lowercase().contains("loss"))
        else {
            continue;
        };
        let def = index.functions[step].def;
        let name_range = def.name.range;
        let loss_name = loss.target.clone();
        let message = format!(
            "`{}.training_step` computes `{loss_name}` but returns nothing: with automatic optimization Lightning skips the backward pass and optimizer step for every batch",
            class.name
        );
        let fix = Fix::new(format!("Return the loss: `return {loss_name}`"))
            .with_example(format!("    ...\n    return {loss_name}"));
        ctx.report(name_range, message, Some(fix));
    }
}
