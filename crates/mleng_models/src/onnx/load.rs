//! Reading an `.onnx` file: decode the protobuf, list the initializers with their element
//! counts, and check (never blindly follow) each external-data reference.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

use prost::Message;

use super::proto::{dtype, GraphProto, ModelProto, NodeProto, TensorProto};
use crate::error::{ModelError, Result};

/// Largest `.onnx` protobuf we read: protobuf itself cannot address more than 2 GiB.
const MAX_ONNX_BYTES: u64 = 2 << 30;

/// Where an initializer's values live.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Storage {
    Inline,
    External {
        file: String,
        offset: u64,
        length: u64,
    },
    /// The external file does not exist: the dims still give the element count.
    Missing {
        file: String,
    },
    /// The reference points outside the model's folder (or is otherwise unsafe): not read.
    Refused {
        location: String,
        reason: String,
    },
    /// The reference is malformed or does not fit the external file.
    Broken {
        location: String,
        reason: String,
    },
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Initializer {
    pub name: String,
    pub dtype: i32,
    pub dims: Vec<i64>,
    pub numel: u64,
    pub storage: Storage,
}

impl Initializer {
    pub fn is_float(&self) -> bool {
        dtype::is_float(self.dtype)
    }
    pub fn bytes(&self) -> u64 {
        dtype::size(self.dtype)
            .unwrap_or(1)
            .saturating_mul(self.numel)
    }
}

pub struct OnnxModel {
    pub path: PathBuf,
    pub file_bytes: u64,
    pub producer: String,
    pub ir_version: i64,
    pub opset: i64,
    pub graph: GraphProto,
    pub initializers: Vec<Initializer>,
    pub init_index: HashMap<String, usize>,
    /// `(domain, name)` of model-local functions: calls to them are not custom kernels.
    pub functions: Vec<(String, String)>,
}

impl OnnxModel {
    pub fn initializer(&self, name: &str) -> Option<&Initializer> {
        self.init_index
            .get(name)
            .and_then(|&i| self.initializers.get(i))
    }

    /// Float elements stored in `Constant` nodes (the onnx library counts these as weights).
    pub fn constant_float_elements(&self) -> u64 {
        self.graph
            .node
            .iter()
            .filter(|n| op(n) == "Constant")
            .map(constant_float_elements)
            .fold(0u64, u64::saturating_add)
    }

    pub fn initializer_float_elements(&self) -> u64 {
        self.initializers
            .iter()
            .filter(|t| t.is_float())
            .map(|t| t.numel)
            .fold(0u64, u64::saturating_add)
    }

    /// The figure `onnx_weight_elements` in the fixtures' truth files measures.
    pub fn weight_elements(&self) -> u64 {
        self.initializer_float_elements()
            .saturating_add(self.constant_float_elements())
    }

    pub fn external_problems(&self) -> impl Iterator<Item = &Initializer> {
        self.initializers
            .iter()
            .filter(|t| !matches!(t.storage, Storage::Inline | Storage::External { .. }))
    }
}

pub fn op(node: &NodeProto) -> &str {
    node.op_type.as_deref().unwrap_or("")
}

fn constant_float_elements(node: &NodeProto) -> u64 {
    let mut total = 0u64;
    for attr in &node.attribute {
        match attr.name.as_deref() {
            Some("value") => {
                if let Some(t) = &attr.t {
                    if dtype::is_float(t.data_type.unwrap_or(0)) {
                        total = total.saturating_add(numel(&t.dims).unwrap_or(0));
                    }
                }
            }
            Some("value_float") => total = total.saturating_add(1),
            Some("value_floats") => total = total.saturating_add(attr.floats.len() as u64),
            _ => {}
        }
    }
    total
}

/// Element count from dims, refusing negative dims and overflow.
pub fn numel(dims: &[i64]) -> Option<u64> {
    dims.iter().try_fold(1u64, |acc, &d| {
        u64::try_from(d).ok().and_then(|d| acc.checked_mul(d))
    })
}

pub fn load(path: &Path) -> Result<OnnxModel> {
    let meta = std::fs::metadata(path).map_err(|e| ModelError::io(path, e))?;
    if meta.len() > MAX_ONNX_BYTES {
        return Err(ModelError::invalid(
            path,
            format!("{} bytes is more than a protobuf can hold", meta.len()),
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
    decode(path, &bytes)
}

pub fn decode(path: &Path, bytes: &[u8]) -> Result<OnnxModel> {
    let model = ModelProto::decode(bytes).map_err(|e| ModelError::OnnxDecode {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })?;
    let functions = model
        .functions
        .iter()
        .map(|f| {
            (
                f.domain.clone().unwrap_or_default(),
                f.name.clone().unwrap_or_default(),
            )
        })
        .collect();
    let graph = model.graph.ok_or_else(|| ModelError::OnnxDecode {
        path: path.to_path_buf(),
        detail: "the model has no graph".into(),
    })?;
    let opset = model
        .opset_import
        .iter()
        .filter(|o| matches!(o.domain.as_deref(), None | Some("") | Some("ai.onnx")))
        .filter_map(|o| o.version)
        .max()
        .unwrap_or(0);
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut initializers = Vec::with_capacity(graph.initializer.len());
    let mut init_index = HashMap::new();
    for t in &graph.initializer {
        let name = t.name.clone().unwrap_or_default();
        let n = numel(&t.dims).ok_or_else(|| {
            ModelError::invalid(
                path,
                format!("initializer `{name}` has invalid dims {:?}", t.dims),
            )
        })?;
        let storage = storage_of(folder, t, n);
        init_index.insert(name.clone(), initializers.len());
        initializers.push(Initializer {
            name,
            dtype: t.data_type.unwrap_or(0),
            dims: t.dims.clone(),
            numel: n,
            storage,
        });
    }
    Ok(OnnxModel {
        path: path.to_path_buf(),
        file_bytes: bytes.len() as u64,
        producer: format!(
            "{} {}",
            model.producer_name.unwrap_or_default(),
            model.producer_version.unwrap_or_default()
        )
        .trim()
        .to_string(),
        ir_version: model.ir_version.unwrap_or(0),
        opset,
        graph,
        initializers,
        init_index,
        functions,
    })
}

fn storage_of(folder: &Path, t: &TensorProto, numel: u64) -> Storage {
    if t.data_location != Some(1) {
        return Storage::Inline;
    }
    let mut location = None;
    let mut offset = 0u64;
    let mut length = None;
    for e in &t.external_data {
        let value = e.value.as_deref().unwrap_or("");
        match e.key.as_deref() {
            Some("location") => location = Some(value.to_string()),
            Some("offset") => offset = value.parse().unwrap_or(u64::MAX),
            Some("length") => length = value.parse().ok(),
            _ => {}
        }
    }
    let Some(location) = location else {
        return Storage::Broken {
            location: String::new(),
            reason: "external data without a `location`".into(),
        };
    };
    let file = match resolve_inside(folder, &location) {
        Ok(Some(file)) => file,
        Ok(None) => return Storage::Missing { file: location },
        Err(reason) => return Storage::Refused { location, reason },
    };
    let expected = dtype::size(t.data_type.unwrap_or(0)).and_then(|s| s.checked_mul(numel));
    let length = match (length, expected) {
        (Some(l), _) => l,
        (None, Some(e)) => e,
        (None, None) => 0,
    };
    if let Some(e) = expected {
        if e != length {
            return Storage::Broken {
                location,
                reason: format!("length {length} but the dims need {e} bytes"),
            };
        }
    }
    let size = std::fs::metadata(&file).map(|m| m.len()).unwrap_or(0);
    match offset.checked_add(length) {
        Some(end) if end <= size => Storage::External {
            file: location,
            offset,
            length,
        },
        _ => Storage::Broken {
            location,
            reason: format!(
                "offset {offset} + length {length} is past the end of the {size}-byte file"
            ),
        },
    }
}

/// Resolve an external-data `location` against the model's folder. `Ok(None)`: the file is
/// absent. `Err`: the reference would leave the folder (absolute path, `..`, or a symlink
/// pointing elsewhere), the path-traversal class of ONNX tooling bugs (e.g. CVE-2024-27318).
pub fn resolve_inside(
    folder: &Path,
    location: &str,
) -> std::result::Result<Option<PathBuf>, String> {
    let rel = Path::new(location);
    if location.is_empty() {
        return Err("empty location".into());
    }
    if rel.is_absolute() || location.starts_with('/') || location.starts_with('\\') {
        return Err("absolute path".into());
    }
    for c in rel.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err("path contains `..`".into()),
            _ => return Err("path has a root or drive prefix".into()),
        }
    }
    if location.contains('\\') && location.contains("..") {
        return Err("path contains `..`".into());
    }
    let joined = folder.join(rel);
    if std::fs::symlink_metadata(&joined).is_err() {
        return Ok(None);
    }
    let base = folder
        .canonicalize()
        .map_err(|e| format!("cannot resolve the model folder: {e}"))?;
    let real = match joined.canonicalize() {
        Ok(p) => p,
        // A dangling symlink: treat as leaving the folder, never guess where it points.
        Err(_) => return Err("symlink that does not resolve".into()),
    };
    if !real.starts_with(&base) {
        return Err(format!(
            "resolves to {} outside the model folder",
            real.display()
        ));
    }
    if !real.is_file() {
        return Err("not a regular file".into());
    }
    Ok(Some(real))
}

/// Integer values of a small tensor (shape vectors, axes, indices); `None` when it is not an
/// integer tensor, has its data elsewhere, or is too large to be a shape.
pub fn tensor_ints(t: &TensorProto) -> Option<Vec<i64>> {
    const LIMIT: u64 = 1 << 16;
    let n = numel(&t.dims)?;
    if n > LIMIT || t.data_location == Some(1) {
        return None;
    }
    let dt = t.data_type.unwrap_or(0);
    let values: Vec<i64> = if let Some(raw) = &t.raw_data {
        let width = match dt {
            dtype::INT64 | dtype::UINT64 => 8,
            dtype::INT32 | dtype::UINT32 => 4,
            dtype::INT16 | dtype::UINT16 => 2,
            dtype::INT8 | dtype::UINT8 | dtype::BOOL => 1,
            _ => return None,
        };
        raw.chunks_exact(width)
            .map(|c| {
                let mut b = [0u8; 8];
                b[..width].copy_from_slice(c);
                let v = i64::from_le_bytes(b);
                // Sign-extend the narrower signed types.
                match dt {
                    dtype::INT32 => i64::from(v as u32 as i32),
                    dtype::INT16 => i64::from(v as u16 as i16),
                    dtype::INT8 => i64::from(v as u8 as i8),
                    _ => v,
                }
            })
            .collect()
    } else {
        match dt {
            dtype::INT64 => t.int64_data.clone(),
            dtype::UINT64 => t.uint64_data.iter().map(|&v| v as i64).collect(),
            dtype::INT32
            | dtype::INT16
            | dtype::INT8
            | dtype::UINT16
            | dtype::UINT8
            | dtype::BOOL => t.int32_data.iter().map(|&v| i64::from(v)).collect(),
            _ => return None,
        }
    };
    (values.len() as u64 == n).then_some(values)
}

/// Float values of a small inline tensor (used for ConstantOfShape fill values and findings).
pub fn tensor_floats(t: &TensorProto, limit: u64) -> Option<Vec<f64>> {
    let n = numel(&t.dims)?;
    if n > limit || t.data_location == Some(1) {
        return None;
    }
    let dt = t.data_type.unwrap_or(0);
    let values: Vec<f64> = if let Some(raw) = &t.raw_data {
        match dt {
            dtype::FLOAT => raw
                .chunks_exact(4)
                .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            dtype::DOUBLE => raw
                .chunks_exact(8)
                .map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    f64::from_le_bytes(b)
                })
                .collect(),
            dtype::FLOAT16 => raw
                .chunks_exact(2)
                .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
            dtype::BFLOAT16 => raw
                .chunks_exact(2)
                .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f64())
                .collect(),
            _ => return tensor_ints(t).map(|v| v.into_iter().map(|x| x as f64).collect()),
        }
    } else {
        match dt {
            dtype::FLOAT => t.float_data.iter().map(|&v| f64::from(v)).collect(),
            dtype::DOUBLE => t.double_data.clone(),
            _ => return tensor_ints(t).map(|v| v.into_iter().map(|x| x as f64).collect()),
        }
    };
    (values.len() as u64 == n).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numel_refuses_negative_and_overflow() {
        assert_eq!(numel(&[2, 3]), Some(6));
        assert_eq!(numel(&[]), Some(1));
        assert_eq!(numel(&[-1, 3]), None);
        assert_eq!(numel(&[i64::MAX, 4]), None);
    }

    #[test]
    fn locations_that_leave_the_folder_are_refused() {
        let dir = std::env::temp_dir();
        assert!(resolve_inside(&dir, "../x.data").is_err());
        assert!(resolve_inside(&dir, "a/../../x.data").is_err());
        assert!(resolve_inside(&dir, "/etc/passwd").is_err());
        assert!(resolve_inside(&dir, "").is_err());
        assert_eq!(resolve_inside(&dir, "surely-not-here.data"), Ok(None));
    }
}
