//! `recommend`: task-aware computer-vision advice from the data in `mleng_knowledge`, or a
//! project's code compared with it (`mleng_rules::recommend`, as `mleng recommend`).

use mleng_knowledge::recommend::{self, Constraints, DataSize, Device, Latency};
use mleng_rules::recommend::{project_json, scan_path, task_json};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ToolError;
use crate::roots::Roots;

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DataSizeArg {
    /// fewer than ~5k labelled images
    Small,
    Medium,
    /// more than ~100k labelled images
    Large,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LatencyArg {
    /// video, interactive
    Realtime,
    /// offline
    Batch,
}

#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DeviceArg {
    Edge,
    Gpu,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RecommendArgs {
    /// The task: classification, detection, semantic-segmentation, instance-segmentation,
    /// keypoints, anomaly-detection (aliases such as `pose` or `segmentation` work). Without
    /// a task and without `project`, the known tasks are listed.
    pub task: Option<String>,
    /// A project folder (or file): detect its task(s) from the code and compare what it does
    /// with the advice. Not together with `task`.
    pub project: Option<String>,
    /// How much labelled data there is.
    pub data_size: Option<DataSizeArg>,
    /// The inference budget.
    pub latency: Option<LatencyArg>,
    /// Where the model runs.
    pub device: Option<DeviceArg>,
}

fn constraints(args: &RecommendArgs) -> Constraints {
    Constraints {
        data_size: args.data_size.map(|d| match d {
            DataSizeArg::Small => DataSize::Small,
            DataSizeArg::Medium => DataSize::Medium,
            DataSizeArg::Large => DataSize::Large,
        }),
        latency: args.latency.map(|l| match l {
            LatencyArg::Realtime => Latency::Realtime,
            LatencyArg::Batch => Latency::Batch,
        }),
        device: args.device.map(|d| match d {
            DeviceArg::Edge => Device::Edge,
            DeviceArg::Gpu => Device::Gpu,
        }),
    }
}

pub fn recommend(roots: &Roots, args: &RecommendArgs) -> Result<Value, ToolError> {
    let all = recommend::tasks().map_err(ToolError::failed)?;
    let c = constraints(args);
    match (&args.task, &args.project) {
        (Some(_), Some(_)) => Err(ToolError::invalid(
            "give either `task` (advice for a task) or `project` (compare a project with the advice), not both",
        )),
        (None, Some(project)) => {
            let root = roots.existing(project)?;
            let scan = scan_path(&root).map_err(ToolError::failed)?;
            Ok(project_json(&scan, &c, &root))
        }
        (Some(name), None) => {
            let task = recommend::find(name).ok_or_else(|| {
                let names: Vec<&str> = all.iter().map(|t| t.id.as_str()).collect();
                ToolError::invalid(format!(
                    "unknown task `{name}` (known: {})",
                    names.join(", ")
                ))
            })?;
            Ok(task_json(&task.narrowed(&c), &c))
        }
        (None, None) => {
            let tasks: Vec<Value> = all
                .iter()
                .map(|t| json!({"id": t.id, "title": t.title, "summary": t.summary}))
                .collect();
            Ok(json!({
                "tasks": tasks,
                "note": "call `recommend` with one of these as `task`, or with `project`",
            }))
        }
    }
}
