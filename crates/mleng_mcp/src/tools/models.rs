//! `inspect_model` (ONNX graphs and checkpoints, through `mleng_models::inspect` as
//! `mleng inspect`) and `model_map` (the static map of `mleng arch`). Nothing in a model file
//! is executed: checkpoints are read by a restricted reader, never unpickled.

use mleng_models::inspect;
use mleng_models::onnx::GraphOptions;
use mleng_rules::arch;
use schemars::JsonSchema;
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
    /// Batch size for the memory estimate (replaces the input's first dimension).
    pub batch: Option<i64>,
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

pub fn inspect_model(roots: &Roots, args: &InspectArgs) -> Result<Value, ToolError> {
    if args.paths.is_empty() {
        return Err(ToolError::invalid(
            "`paths` needs at least one model file or folder",
        ));
    }
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
            // The training-memory estimate (`mleng inspect --train`) is not offered here yet.
            training: None,
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
