use mleng_diagnostics::{Area, Fix, Severity};

use super::unseeded_training::display_name;
use crate::project::ProjectContext;
use crate::rule::Rule;

pub(crate) static RULE: Rule = Rule {
    code: "EXP011",
    name: "hyperparameters-not-recorded",
    area: Area::Experiment,
    severity: Severity::Info,
    fix: None,
    summary: "A training entry point tracks metrics with an experiment tracker but never records the configuration that produced them.",
    docs: r#"## What it does
For each training entry point that sends metrics to an experiment tracker (TensorBoard,
Weights & Biases, MLflow, Comet, Neptune, Aim, ClearML, Accelerate or Fabric loggers, a CSV
file), reports once when neither it nor the files it calls into record the run's
configuration: no `SummaryWriter.add_hparams`, `wandb.init(config=...)` / `wandb.config`,
`mlflow.log_param(s)`, `save_hyperparameters()`, `log_hyperparams`, no config dumped to a
file (`yaml.dump`, `json.dump`, `OmegaConf.save`), no `args`/`config` saved in a checkpoint,
and not even a `print(args)`. Hydra (which writes the config of every run to
`.hydra/config.yaml`), Lightning and Hugging Face trainers record it themselves and are not
reported.

## Why is this bad?
A loss curve without the learning rate, batch size and seed that produced it cannot be
compared with another curve or reproduced: the tracker shows *that* run 17 was better, not
*why*. Recording the configuration next to the metrics is what makes a tracker useful for
comparing experiments.

## Example
```python
writer = SummaryWriter()
for step, (x, y) in enumerate(loader):
    ...
    writer.add_scalar("train/loss", loss.item(), step)
```

## Use instead
```python
writer = SummaryWriter()
writer.add_hparams(vars(args), {})  # or wandb.init(config=vars(args)), mlflow.log_params(vars(args))
for step, (x, y) in enumerate(loader):
    ...
    writer.add_scalar("train/loss", loss.item(), step)
```

## References
- `SummaryWriter.add_hparams`: <https://pytorch.org/docs/stable/tensorboard.html#torch.utils.tensorboard.writer.SummaryWriter.add_hparams>
- Weights & Biases, "Configure experiments" (`wandb.config`): <https://docs.wandb.ai/guides/track/config/>
- MLflow tracking, `mlflow.log_params`: <https://mlflow.org/docs/latest/tracking.html>
- Lightning, `save_hyperparameters`: <https://lightning.ai/docs/pytorch/stable/common/checkpointing_basic.html#save-hyperparameters>
"#,
    check: crate::project::no_file_check,
};

/// Tracking that is not an experiment tracker (the loss printed to the console).
const NOT_A_TRACKER: &[&str] = &["print", "a log message", "a progress meter"];

pub(crate) fn check_project(ctx: &mut ProjectContext) {
    for entry in ctx.facts.training_entry_points() {
        let files = &entry.reached;
        let Some(tracker) = files.iter().find_map(|f| {
            f.metric_tracking
                .as_deref()
                .filter(|t| !NOT_A_TRACKER.contains(t))
        }) else {
            continue;
        };
        if files
            .iter()
            .any(|f| f.records_config || f.full_service_trainer || f.config_source == Some("Hydra"))
        {
            continue;
        }
        let message = format!(
            "training entry point `{}` tracks metrics with {tracker} but never records its configuration (learning rate, batch size, seed...): the curves cannot be tied to the settings that produced them",
            display_name(entry.file)
        );
        let fix = Fix::new("Record the configuration with the run").with_example(
            "writer.add_hparams(vars(args), {})\n# or: wandb.init(config=vars(args)) / mlflow.log_params(vars(args))",
        );
        ctx.report(entry.file, entry.site, message, Some(fix));
    }
}
