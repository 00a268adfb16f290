//! `inspect_model` (ONNX graphs and checkpoints, through `mleng_models::inspect` as
//! `mleng inspect`) and `model_map` (the static map of `mleng arch`). Nothing in a model file
//! is executed: checkpoints are read by a restricted reader, never unpickled.

use mleng_knowledge::training_memory as tm;
use mleng_models::inspect;
use mleng_models::memory::{SetupError, TrainingSetup};
use mleng_models::onnx::GraphOptions;
use mleng_rules::arch;
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde_json::Value;

use super::existing_paths;
use crate::error::ToolError;
use crate::paging::{page_array, Page};
use crate::roots::Roots;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InspectArgs {
    /// Model files (`.onnx`, `.safetensors`, `.pt`, `.pth`, `.bin`, `.ckpt`) or folders
    /// holding them.
    pub paths: Vec<String>,
    /// Compare exactly two checkpoints instead: per-layer relative drift from the first to
    /// the second.
    #[serde(default)]
    pub diff: bool,
    /// Input shape for graphs whose input is dynamic, e.g. `1x3x224x224`.
    pub input_shape: Option<String>,
    /// Batch size for the memory estimates (replaces the input's first dimension); the
    /// per-GPU batch size of the training-memory estimate (`train`).
    pub batch: Option<i64>,
    /// Estimate the GPU memory one training step needs for ONNX graphs, as `mleng inspect
    /// --train`: weights, autocast copies, gradients, optimizer state, activations kept for
    /// backward and the CUDA context; each graph's result gets a `training` object (bytes,
    /// the dominant part, advice). Needs `batch`.
    #[serde(default)]
    pub train: bool,
    /// Optimizer of the training-memory estimate (with `train`). Default `adamw`.
    #[serde(default)]
    #[schemars(schema_with = "optimizer_schema")]
    pub optimizer: Option<String>,
    /// Precision of the training-memory estimate (with `train`): `fp32`, `bf16`/`fp16`
    /// (autocast: fp32 weights), `pure-bf16`, `pure-fp16`, `master-fp16`. Default `fp32`.
    #[serde(default)]
    #[schemars(schema_with = "precision_schema")]
    pub precision: Option<String>,
    /// How many bottleneck layers to list. Default 10.
    pub top: Option<usize>,
    /// First row of each graph's per-layer table to return. Default 0.
    pub layers_offset: Option<usize>,
    /// Rows of each graph's per-layer table to return. Default 50.
    pub layers_limit: Option<usize>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelMapArgs {
    /// A Python file, notebook or folder defining `nn.Module` classes or `nn.Sequential`s.
    pub path: String,
    /// Only the model of this class (or `nn.Sequential` variable) name.
    pub class_name: Option<String>,
    /// First model to return when the path defines many. Default 0.
    pub offset: Option<usize>,
    /// How many models to return. Default 20.
    pub limit: Option<usize>,
}

/// A string schema whose values are the names and aliases a knowledge table accepts.
fn names_schema(entries: impl Iterator<Item = (&'static str, &'static [&'static str])>) -> Schema {
    let names: Vec<&str> = entries
        .flat_map(|(name, aliases)| std::iter::once(name).chain(aliases.iter().copied()))
        .collect();
    json_schema!({ "type": "string", "enum": names })
}

fn optimizer_schema(_: &mut SchemaGenerator) -> Schema {
    names_schema(tm::OPTIMIZERS.iter().map(|o| (o.name, o.aliases)))
}

fn precision_schema(_: &mut SchemaGenerator) -> Schema {
    names_schema(tm::PRECISIONS.iter().map(|p| (p.name, p.aliases)))
}

/// The training setup of `train`, with errors in the tool's own argument names.
fn training_setup(args: &InspectArgs) -> Result<Option<TrainingSetup>, ToolError> {
    if !args.train {
        if args.optimizer.is_some() || args.precision.is_some() {
            return Err(ToolError::invalid(
                "`optimizer` and `precision` are for the training-memory estimate: add `train: true` and `batch`",
            ));
        }
        return Ok(None);
    }
    if args.diff {
        return Err(ToolError::invalid(
            "`train` estimates a graph's training memory; it does not apply to `diff`",
        ));
    }
    let optimizer = args.optimizer.as_deref().unwrap_or("adamw");
    let precision = args.precision.as_deref().unwrap_or("fp32");
    TrainingSetup::parse(args.batch, optimizer, precision)
        .map(Some)
        .map_err(|e| {
            ToolError::invalid(match e {
                SetupError::MissingBatch => {
                    "`train` needs `batch`, the per-GPU batch size (e.g. 32)".to_string()
                }
                SetupError::BadBatch(b) => {
                    format!("`batch` must be a positive integer, got {b}")
                }
                SetupError::UnknownOptimizer { .. } => format!("`optimizer`: {e}"),
                SetupError::UnknownPrecision { .. } => format!("`precision`: {e}"),
            })
        })
}

pub fn inspect_model(roots: &Roots, args: &InspectArgs) -> Result<Value, ToolError> {
    if args.paths.is_empty() {
        return Err(ToolError::invalid(
            "`paths` needs at least one model file or folder",
        ));
    }
    let training = training_setup(args)?;
    let paths = existing_paths(roots, &args.paths)?;
    // Folders are expanded here so that every model file in them is checked against the roots
    // too: reading a folder's files follows symlinks.
    let paths = inspect::expand(&paths)
        .map_err(ToolError::failed)?
        .iter()
        .map(|file| roots.confine_path(file))
        .collect::<Result<Vec<_>, _>>()?;
    let inspection = if args.diff {
        inspect::diff_pair(&paths).map_err(ToolError::failed)?
    } else {
        let input_shape = match &args.input_shape {
            Some(text) => Some(
                inspect::parse_shape(text)
                    .map_err(|e| ToolError::invalid(format!("`input_shape`: {e}")))?,
            ),
            None => None,
        };
        let opts = GraphOptions {
            input_shape,
            batch: args.batch,
            top: args.top.unwrap_or(10),
            training,
        };
        inspect::inspect(&paths, &opts).map_err(ToolError::failed)?
    };
    if inspection.files.is_empty() {
        return Err(ToolError::invalid(
            "no model files (.onnx, .safetensors, .pt, .pth, .bin, .ckpt) in the given paths",
        ));
    }
    let mut value = serde_json::to_value(&inspection).map_err(ToolError::failed)?;
    // Per-layer tables are the large part (hundreds of rows for a ViT): one page per graph.
    let page = Page::new(args.layers_offset, args.layers_limit, 50);
    for key in ["graphs", "checkpoints"] {
        if let Some(Value::Array(reports)) = value.get_mut(key) {
            for report in reports {
                page_array(report, "layers", page, "layers", "layers_offset");
                page_array(report, "tensors", page, "tensors", "layers_offset");
            }
        }
    }
    if let Some(diff) = value.get_mut("diff") {
        page_array(diff, "layers", page, "layers", "layers_offset");
        page_array(diff, "tensors", page, "tensors", "layers_offset");
    }
    Ok(value)
}

pub fn model_map(roots: &Roots, args: &ModelMapArgs) -> Result<Value, ToolError> {
    // `file.py::Class` as on the command line works too.
    let (raw, only) = match (&args.class_name, args.path.rsplit_once("::")) {
        (Some(class), _) => (args.path.as_str(), Some(class.clone())),
        (None, Some((path, class))) if !class.is_empty() => (path, Some(class.to_string())),
        (None, _) => (args.path.as_str(), None),
    };
    let path = existing_paths(roots, &[raw.to_string()])?.remove(0);
    let (maps, skipped) = arch::map_path(&path, only.as_deref());
    if let Some(name) = &only {
        if maps.is_empty() {
            return Err(ToolError::invalid(format!(
                "no nn.Module class or nn.Sequential named `{name}` in {}",
                path.display()
            )));
        }
    }
    let mut value = arch::maps_json(&maps);
    if let Some(object) = value.as_object_mut() {
        let skipped: Vec<Value> = skipped
            .iter()
            .map(|(file, reason)| serde_json::json!({"path": file, "reason": reason}))
            .collect();
        object.insert("skipped_files".into(), Value::Array(skipped));
    }
    let page = Page::new(args.offset, args.limit, 20);
    page_array(&mut value, "models", page, "models", "offset");
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONNX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/onnx");

    fn args(extra: Value) -> InspectArgs {
        let mut v = serde_json::json!({ "paths": ["smallcnn_ok.legacy.onnx"] });
        if let (Some(o), Value::Object(extra)) = (v.as_object_mut(), extra) {
            o.extend(extra);
        }
        serde_json::from_value(v).expect("valid arguments")
    }

    fn roots() -> Roots {
        Roots::new(&[std::path::PathBuf::from(ONNX)]).expect("the fixtures folder")
    }

    #[test]
    fn train_returns_the_same_estimate_as_the_cli() {
        let v = inspect_model(
            &roots(),
            &args(serde_json::json!({"train": true, "batch": 16, "optimizer": "sgd-momentum", "precision": "bf16"})),
        )
        .expect("inspects");
        let t = &v["graphs"][0]["training"];
        assert_eq!(t["batch"], 16);
        assert_eq!(t["optimizer"], "sgd-momentum");
        assert_eq!(t["precision"], "bf16");
        // What `mleng inspect --train` computes, through the same library call.
        let setup = TrainingSetup::parse(Some(16), "sgd-momentum", "bf16").expect("setup");
        let opts = GraphOptions {
            input_shape: None,
            batch: Some(16),
            top: 10,
            training: Some(setup),
        };
        let cli = inspect::inspect(
            &[std::path::PathBuf::from(ONNX).join("smallcnn_ok.legacy.onnx")],
            &opts,
        )
        .expect("inspects");
        let want =
            serde_json::to_value(cli.graphs[0].training.as_ref().expect("estimate")).expect("json");
        assert_eq!(t, &want);
        // Defaults: adamw and fp32, two fp32 states per parameter.
        let v = inspect_model(
            &roots(),
            &args(serde_json::json!({"train": true, "batch": 4})),
        )
        .expect("inspects");
        let t = &v["graphs"][0]["training"];
        assert_eq!(
            (t["optimizer"].as_str(), t["precision"].as_str()),
            (Some("adamw"), Some("fp32"))
        );
        assert_eq!(
            t["optimizer_state"].as_u64(),
            t["params"].as_u64().map(|p| p * 8)
        );
        // Without `train`, no estimate.
        let v = inspect_model(&roots(), &args(serde_json::json!({"batch": 4}))).expect("inspects");
        assert!(v["graphs"][0].get("training").is_none());
    }

    #[test]
    fn train_errors_name_the_arguments() {
        for (extra, want) in [
            (serde_json::json!({"train": true}), "`train` needs `batch`"),
            (
                serde_json::json!({"train": true, "batch": 0}),
                "`batch` must be a positive integer, got 0",
            ),
            (
                serde_json::json!({"train": true, "batch": 4, "optimizer": "lamb"}),
                "`optimizer`: unknown optimizer `lamb` (valid: sgd",
            ),
            (
                serde_json::json!({"train": true, "batch": 4, "precision": "int8"}),
                "`precision`: unknown precision `int8`",
            ),
            (
                serde_json::json!({"optimizer": "adamw"}),
                "add `train: true`",
            ),
            (
                serde_json::json!({"train": true, "batch": 4, "diff": true}),
                "does not apply to `diff`",
            ),
        ] {
            let err = inspect_model(&roots(), &args(extra.clone()))
                .expect_err("invalid")
                .to_string();
            assert!(err.contains(want), "{extra}: {err}");
        }
    }

    #[test]
    fn schema_lists_the_accepted_names() {
        let schema = serde_json::to_value(schemars::schema_for!(InspectArgs)).expect("json");
        let props = &schema["properties"];
        let optimizers = props["optimizer"]["enum"].as_array().expect("an enum");
        assert!(
            optimizers.contains(&Value::from("adamw")) && optimizers.contains(&Value::from("adam"))
        );
        let precisions = props["precision"]["enum"].as_array().expect("an enum");
        assert!(precisions.contains(&Value::from("pure-bf16")));
        assert_eq!(props["train"]["type"], "boolean");
        let required: Vec<&str> = schema["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert_eq!(required, ["paths"]);
    }
}
