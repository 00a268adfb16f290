use mleng_diagnostics::{Area, Fix, Severity};

use super::unseeded_training::display_name;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP007",
    name: "no-metric-tracking",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: None,
    summary: "A training entry point logs no metric anywhere (no TensorBoard, W&B, MLflow, logger, or even a print of the loss).",
    docs: r#"## What it does
Looks at each training entry point (a script or notebook that trains, itself or through a
training function in another reviewed file) and reports, once, when neither it nor the files it
calls into record any metric: no TensorBoard `SummaryWriter.add_scalar`, `wandb.log`,
`mlflow.log_metric(s)`/`autolog`, Comet/Neptune/Aim/ClearML, Lightning `self.log`,
`accelerator.log`/`fabric.log`, a CSV writer, a logger call, or even a `print` of the loss or
accuracy. Lightning and Hugging Face trainers log by default and are not reported.

## Why is this bad?
A run whose loss curve was never recorded cannot be diagnosed afterwards: divergence,
overfitting, a learning rate that is too high, or a silent data bug (loss stuck at ln(C)) all
show up first in the curves. Without them, comparing two runs means re-running both.

## Example
```python
for epoch in range(epochs):
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
```

## Use instead
```python
from torch.utils.tensorboard import SummaryWriter

writer = SummaryWriter()
step = 0
for epoch in range(epochs):
    for x, y in loader:
        loss = criterion(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        writer.add_scalar("train/loss", loss.item(), step)
        step += 1
```

## Known problems
Logging through a helper in a file that is not reviewed is not seen.

## References
- PyTorch, "Visualizing models, data, and training with TensorBoard": <https://pytorch.org/tutorials/intermediate/tensorboard_tutorial.html>
- `torch.utils.tensorboard.SummaryWriter.add_scalar`: <https://pytorch.org/docs/stable/tensorboard.html#torch.utils.tensorboard.writer.SummaryWriter.add_scalar>
- Google, "Deep Learning Tuning Playbook" (examine training curves): <https://github.com/google-research/tuning_playbook#examining-the-training-curves>
"#,
    check: crate::project::no_file_check,
};

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    for entry in ctx.facts.training_entry_points() {
        if entry
            .reached
            .iter()
            .any(|f| f.metric_tracking.is_some() || f.full_service_trainer)
        {
            continue;
        }
        let name = display_name(entry.file);
        let message = format!(
            "training entry point `{name}` trains without recording any metric (no TensorBoard, W&B, MLflow, logger or print of the loss): the run's curves cannot be inspected or compared afterwards"
        );
        let fix = Fix::new("Log the training loss (and validation metrics) every few steps")
            .with_example(
                "from torch.utils.tensorboard import SummaryWriter\n\nwriter = SummaryWriter()\n...\nwriter.add_scalar(\"train/loss\", loss.item(), step)",
            );
        ctx.report(entry.file, entry.site, message, Some(fix));
    }
}
