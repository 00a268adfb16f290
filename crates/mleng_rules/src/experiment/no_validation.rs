use mleng_diagnostics::{Area, Fix, Severity};

use super::unseeded_training::display_name;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP012",
    name: "no-validation",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: None,
    summary: "A training entry point never evaluates the model on held-out data.",
    docs: r#"## What it does
For each training entry point, reports once when neither it nor the files it calls into show
any sign of evaluation on held-out data: no `model.eval()`, no `torch.no_grad()` /
`torch.inference_mode()` block, no validation or test loader, step or keyword
(`val_loader`, `validation_step`, `eval_dataset=`), no `evaluate` / `validate` / `test`
function or call.

## Why is this bad?
Training loss alone cannot tell a model that generalises from one that memorises: without a
held-out evaluation, overfitting, a leaky preprocessing step or a bug that only affects unseen
data is invisible, and there is nothing to choose a checkpoint or a hyperparameter with.

## Example
```python
for epoch in range(epochs):
    for x, y in train_loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
torch.save(model.state_dict(), "model.pt")
```

## Use instead
```python
for epoch in range(epochs):
    model.train()
    for x, y in train_loader:
        ...
    model.eval()
    with torch.no_grad():
        val_loss = sum(criterion(model(x), y).item() for x, y in val_loader) / len(val_loader)
    print(f"epoch {epoch}: val_loss {val_loss:.4f}")
```

Reinforcement learning (gym/gymnasium) and GAN training (a discriminator) have no held-out
split in this sense and are not reported.

## Known problems
Evaluation done by a separate script that is not among the reviewed files is not seen; review
the project folder rather than a single file.

## References
- Goodfellow, Bengio, Courville, *Deep Learning*, section 5.3 "Hyperparameters and Validation Sets": <https://www.deeplearningbook.org/contents/ml.html>
- PyTorch tutorial, "Training a classifier" (test the network on the test data): <https://pytorch.org/tutorials/beginner/blitz/cifar10_tutorial.html>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    for entry in ctx.facts.training_entry_points() {
        if entry
            .reached
            .iter()
            .any(|f| f.evaluates || f.full_service_trainer || f.rl_or_gan)
            || entry.training_file.optimizes_inputs_only
        {
            continue;
        }
        let message = format!(
            "training entry point `{}` never evaluates on held-out data (no `model.eval()`, `torch.no_grad()`, validation loader or evaluate function): overfitting and data bugs stay invisible",
            display_name(entry.file)
        );
        let fix = Fix::new("Evaluate on a validation split after each epoch").with_example(
            "model.eval()\nwith torch.no_grad():\n    val_loss = sum(criterion(model(x), y).item() for x, y in val_loader) / len(val_loader)\nmodel.train()",
        );
        ctx.report(entry.file, entry.site, message, Some(fix));
    }
}
