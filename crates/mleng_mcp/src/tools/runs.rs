//! `diagnose_run`: training logs through `mleng_runs` (the same readers and detectors as
//! `mleng diagnose`), as its JSON report: per run a verdict, a summary, events with evidence,
//! and the findings.

use std::collections::BTreeMap;

use mleng_runs::diagnosis::{self, Diagnosis};
use mleng_runs::discover;
use mleng_runs::roles::Role;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use super::existing_paths;
use crate::error::ToolError;
use crate::paging::{page_array, Page};
use crate::roots::Roots;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiagnoseArgs {
    /// Run folders or log files: TensorBoard event files, Lightning `metrics.csv`,
    /// `trainer_state.json`, `*.jsonl`, Ultralytics `results.csv`, MLflow `mlruns/` or
    /// `mlflow.db`, W&B `wandb/` run folders, CSV with a step column. Folders are searched.
    pub paths: Vec<String>,
    /// Number of classes, for the chance-level loss ln(K) (guessed from the loss otherwise).
    pub classes: Option<u32>,
    /// Series to use for a role when the names are not recognised, e.g.
    /// `{"train_loss": "loss/train", "lr": "opt/lr"}`. Roles: train_loss, val_loss,
    /// train_metric, val_metric, lr, grad_norm, grad_norm_first_layer, throughput, epoch.
    #[serde(default)]
    pub metrics: BTreeMap<String, String>,
    /// First run to return when many runs are found. Default 0.
    pub offset: Option<usize>,
    /// How many runs to return. Default 20.
    pub limit: Option<usize>,
}

fn overrides(metrics: &BTreeMap<String, String>) -> Result<Vec<(Role, String)>, ToolError> {
    metrics
        .iter()
        .map(|(role, name)| {
            let parsed = Role::parse(role).ok_or_else(|| {
                let roles: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                ToolError::invalid(format!(
                    "unknown role `{role}` in `metrics`; roles are {}",
                    roles.join(", ")
                ))
            })?;
            if name.trim().is_empty() {
                return Err(ToolError::invalid(format!(
                    "`metrics.{role}` names no series"
                )));
            }
            Ok((parsed, name.trim().to_string()))
        })
        .collect()
}

pub fn diagnose_run(roots: &Roots, args: &DiagnoseArgs) -> Result<Value, ToolError> {
    if args.paths.is_empty() {
        return Err(ToolError::invalid(
            "`paths` needs at least one run folder or log file",
        ));
    }
    if args.classes.is_some_and(|k| k < 2) {
        return Err(ToolError::invalid("`classes` must be at least 2"));
    }
    let overrides = overrides(&args.metrics)?;
    let paths = existing_paths(roots, &args.paths)?;
    let runs = discover::load_runs(&paths).map_err(ToolError::failed)?;
    let diagnoses: Vec<Diagnosis> = runs
        .iter()
        .map(|r| diagnosis::diagnose(r, &overrides, args.classes))
        .collect();
    let text = mleng_runs::report::json::render(&diagnoses).map_err(ToolError::failed)?;
    let mut value: Value = serde_json::from_str(&text).map_err(ToolError::failed)?;
    let page = Page::new(args.offset, args.limit, 20);
    page_array(&mut value, "runs", page, "runs", "offset");
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_roles_are_checked() {
        let ok: BTreeMap<String, String> = [("lr".to_string(), "opt/lr".to_string())].into();
        assert_eq!(overrides(&ok).expect("a role").len(), 1);
        let bad: BTreeMap<String, String> = [("speed".to_string(), "x".to_string())].into();
        let err = overrides(&bad).expect_err("not a role");
        assert!(err.to_string().contains("unknown role `speed`"), "{err}");
        let empty: BTreeMap<String, String> = [("lr".to_string(), " ".to_string())].into();
        assert!(overrides(&empty).is_err());
    }
}
