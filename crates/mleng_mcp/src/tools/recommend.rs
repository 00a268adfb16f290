//! `recommend`: task-aware computer-vision advice from the data in `mleng_knowledge`, or a
//! project's code compared with it (`mleng_rules::recommend`, as `mleng recommend`).

use mleng_knowledge::recommend::{self, Constraints, DataSize, Device, Latency};
use mleng_rules::recommend::{project_json, scan_path, task_json};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ToolError;
use crate::roots::Roots;

// The arguments deserialize straight into `mleng_knowledge`'s own types (lowercase names);
// these enums only describe them in the tools' JSON schemas.

/// `small`: fewer than ~5k labelled images; `large`: more than ~100k.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum DataSizeSchema {
    Small,
    Medium,
    Large,
}

/// `realtime`: video, interactive; `batch`: offline.
#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum LatencySchema {
    Realtime,
    Batch,
}

#[derive(JsonSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum DeviceSchema {
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
    #[schemars(with = "Option<DataSizeSchema>")]
    pub data_size: Option<DataSize>,
    /// The inference budget.
    #[schemars(with = "Option<LatencySchema>")]
    pub latency: Option<Latency>,
    /// Where the model runs.
    #[schemars(with = "Option<DeviceSchema>")]
    pub device: Option<Device>,
}

pub fn recommend(roots: &Roots, args: &RecommendArgs) -> Result<Value, ToolError> {
    let all = recommend::tasks().map_err(ToolError::failed)?;
    let c = Constraints {
        data_size: args.data_size,
        latency: args.latency,
        device: args.device,
    };
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
