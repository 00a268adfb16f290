//! What `mleng inspect` does with a list of paths, shared by the CLI and the MCP server:
//! expand folders into model files, read each one (ONNX graph or checkpoint) and collect the
//! reports; or compare two checkpoints.

use std::path::{Path, PathBuf};

use mleng_diagnostics::Finding;

use crate::ckpt::{self, diff, review};
use crate::onnx::{self, GraphOptions};
use crate::{ModelError, Result};

/// File extensions read as checkpoints (everything else that is a model is `.onnx`).
pub const CHECKPOINT_EXT: &[&str] = &["safetensors", "pt", "pth", "bin", "ckpt"];

/// The reports of one inspection, in the order of the files.
#[derive(Debug, Default, serde::Serialize)]
pub struct Inspection {
    pub graphs: Vec<onnx::GraphReport>,
    pub checkpoints: Vec<review::CheckpointReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<diff::DiffReport>,
    /// The model files that were read.
    #[serde(skip)]
    pub files: Vec<PathBuf>,
}

impl Inspection {
    /// Every finding of every graph and checkpoint.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.graphs
            .iter()
            .flat_map(|g| g.findings.iter())
            .chain(self.checkpoints.iter().flat_map(|c| c.findings.iter()))
    }
}

fn ext(p: &Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// `.onnx` or one of [`CHECKPOINT_EXT`].
pub fn is_model_file(p: &Path) -> bool {
    let e = ext(p);
    e == "onnx" || CHECKPOINT_EXT.contains(&e.as_str())
}

/// In a folder, a `.bin` that is not a zip is someone else's blob (ONNX external data,
/// tokenizer files), not a PyTorch checkpoint: skip it rather than fail the whole run.
fn is_foreign_bin(p: &Path) -> bool {
    if ext(p) != "bin" {
        return false;
    }
    let mut magic = [0u8; 4];
    let read =
        std::fs::File::open(p).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    read.is_err() || &magic != b"PK\x03\x04"
}

/// Files as given, folders replaced by the model files directly in them (sorted).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| ModelError::io(p, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && is_model_file(f) && !is_foreign_bin(f))
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            return Err(ModelError::invalid(p, "no such file"));
        }
    }
    Ok(out)
}

/// Parses an input shape such as `1x3x224x224` (also `,` or `*` between dimensions).
pub fn parse_shape(text: &str) -> std::result::Result<Vec<i64>, String> {
    text.split(['x', 'X', ',', '*'])
        .map(|d| {
            let d = d.trim();
            match d.parse::<i64>() {
                Ok(v) if v > 0 => Ok(v),
                _ => Err(format!(
                    "`{d}` is not a positive integer (expected e.g. 1x3x224x224)"
                )),
            }
        })
        .collect()
}

/// Reads every model file under `paths`: ONNX graphs with `opts`, the rest as checkpoints.
pub fn inspect(paths: &[PathBuf], opts: &GraphOptions) -> Result<Inspection> {
    let files = expand(paths)?;
    let mut out = Inspection::default();
    for f in &files {
        if ext(f) == "onnx" {
            out.graphs.push(onnx::inspect_path(f, opts)?);
        } else {
            out.checkpoints.push(review::inspect_path(f)?);
        }
    }
    out.files = files;
    Ok(out)
}

/// Compares exactly two checkpoints (per-layer drift from the first to the second).
pub fn diff_pair(paths: &[PathBuf]) -> Result<Inspection> {
    let files = expand(paths)?;
    let [a, b] = files.as_slice() else {
        return Err(ModelError::invalid(
            paths.first().cloned().unwrap_or_default(),
            format!(
                "a diff compares exactly two checkpoints, got {}",
                files.len()
            ),
        ));
    };
    let report = diff::diff(&ckpt::load(a)?, &ckpt::load(b)?)?;
    Ok(Inspection {
        diff: Some(report),
        files,
        ..Inspection::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_parse_and_reject() {
        assert_eq!(parse_shape("1x3x224x224"), Ok(vec![1, 3, 224, 224]));
        assert_eq!(parse_shape("2, 8"), Ok(vec![2, 8]));
        assert!(parse_shape("1x0").is_err());
        assert!(parse_shape("1xa").is_err());
    }

    #[test]
    fn missing_path_is_an_error() {
        let err = expand(&[PathBuf::from("/no/such/model.onnx")]).unwrap_err();
        assert!(err.to_string().contains("no such file"), "{err}");
    }
}
