//! PyTorch's zip checkpoint (`torch.save` since 1.6): `<archive>/data.pkl` holds the object
//! tree, `<archive>/data/<key>` the raw little-endian bytes of each storage (written
//! uncompressed, so we read them straight from the mapped file). The pickle goes through the
//! restricted reader in [`super::pickle`]; nested dicts (`{"model": ..., "optimizer": ...}`)
//! are walked and tensors named by their dotted path.

use std::collections::HashSet;
use std::io::{Cursor, Read};
use std::path::Path;

use super::pickle::{self, Id, Obj, Pickle};
use super::{Layout, TensorMeta};
use crate::error::{ModelError, Result};

const MAX_DEPTH: usize = 64;
const MAX_METADATA: usize = 200;

/// Tensors found, and the non-tensor scalars as `(dotted path, value)`.
pub type Parsed = (Vec<TensorMeta>, Vec<(String, String)>);

pub fn parse(path: &Path, bytes: &[u8]) -> Result<Parsed> {
    let zerr =
        |e: zip::result::ZipError| ModelError::invalid(path, format!("invalid zip archive: {e}"));
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zerr)?;
    let pkl_name = zip
        .file_names()
        .filter_map(|n| n.ok())
        .find(|n| n.ends_with("data.pkl") && n.matches('/').count() <= 1)
        .map(|n| n.into_owned())
        .ok_or_else(|| {
            ModelError::invalid(path, "zip has no `data.pkl`: not a torch.save checkpoint")
        })?;
    let prefix = pkl_name.trim_end_matches("data.pkl").to_string();
    let pkl = {
        let entry = zip.by_name(&pkl_name).map_err(zerr)?;
        // Never trust the declared size for the allocation: cap by the file's length.
        let cap = entry.size().min(bytes.len() as u64);
        let mut buf = Vec::with_capacity(usize::try_from(cap).unwrap_or(0));
        entry
            .take(bytes.len() as u64)
            .read_to_end(&mut buf)
            .map_err(|e| ModelError::invalid(path, format!("cannot read `{pkl_name}`: {e}")))?;
        buf
    };
    let tree = pickle::parse(&pkl).map_err(|e| match e {
        pickle::PickleError::Global(_) | pickle::PickleError::Opcode { .. } => {
            ModelError::refused(path, format!("{pkl_name}: {e}"))
        }
        _ => ModelError::invalid(path, format!("{pkl_name}: {e}")),
    })?;
    let mut found = Vec::new();
    let mut metadata = Vec::new();
    let mut seen = HashSet::new();
    walk(
        &tree,
        tree.root,
        String::new(),
        0,
        &mut seen,
        &mut found,
        &mut metadata,
    );
    let mut tensors = Vec::with_capacity(found.len());
    for (name, t) in found {
        let entry_name = format!("{prefix}data/{}", t.storage.key);
        let entry = zip.by_name(&entry_name).map_err(|e| {
            ModelError::invalid(
                path,
                format!("tensor `{name}`: storage `{entry_name}`: {e}"),
            )
        })?;
        if entry.compression() != zip::CompressionMethod::Stored {
            return Err(ModelError::unsupported(
                path,
                format!("storage `{entry_name}` is compressed ({:?}); torch.save writes storages uncompressed", entry.compression()),
            ));
        }
        let start = entry.data_start().ok_or_else(|| {
            ModelError::invalid(path, format!("storage `{entry_name}` has no data offset"))
        })?;
        let size = t.storage.dtype.size() as u64;
        let need = t.storage.numel.checked_mul(size);
        let end = start.checked_add(entry.size());
        match (need, end) {
            (Some(need), Some(end)) if need <= entry.size() && end <= bytes.len() as u64 => {}
            _ => {
                return Err(ModelError::invalid(
                    path,
                    format!("storage `{entry_name}` is smaller than its {} {} elements or runs past the file", t.storage.numel, t.storage.dtype.name()),
                ))
            }
        }
        let numel = t
            .shape
            .iter()
            .try_fold(1u64, |a, &d| a.checked_mul(d))
            .ok_or_else(|| {
                ModelError::invalid(path, format!("tensor `{name}`: shape overflows"))
            })?;
        let contiguous = is_contiguous(&t.shape, &t.stride);
        let layout = match (contiguous, t.offset.checked_add(numel)) {
            (true, Some(last)) if last <= t.storage.numel => Layout::Contiguous {
                start: start + t.offset * size,
                end: start + last * size,
            },
            (true, _) => {
                return Err(ModelError::invalid(
                    path,
                    format!("tensor `{name}` reaches past the end of its storage"),
                ))
            }
            (false, _) => Layout::Strided {
                storage_start: start,
                storage_elems: t.storage.numel,
                offset: t.offset,
                stride: t.stride.clone(),
            },
        };
        tensors.push(TensorMeta {
            name,
            dtype: t.storage.dtype,
            shape: t.shape,
            numel,
            layout,
        });
    }
    Ok((tensors, metadata))
}

fn is_contiguous(shape: &[u64], stride: &[u64]) -> bool {
    let mut expect = 1u64;
    for (d, s) in shape.iter().zip(stride).rev() {
        if *d != 1 && *s != expect {
            return false;
        }
        expect = expect.saturating_mul(*d);
    }
    true
}

fn key_text(tree: &Pickle, id: Id) -> String {
    match tree.get(id) {
        Some(Obj::Str(s)) => s.clone(),
        Some(Obj::Int(i)) => i.to_string(),
        Some(Obj::Bool(b)) => b.to_string(),
        Some(Obj::None) => "None".into(),
        Some(Obj::Float(f)) => f.to_string(),
        _ => "?".into(),
    }
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn walk(
    tree: &Pickle,
    id: Id,
    name: String,
    depth: usize,
    seen: &mut HashSet<Id>,
    tensors: &mut Vec<(String, pickle::TensorRef)>,
    metadata: &mut Vec<(String, String)>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    let Some(obj) = tree.get(id) else { return };
    let scalar = |s: String, metadata: &mut Vec<(String, String)>| {
        if metadata.len() < MAX_METADATA && !name.is_empty() {
            metadata.push((name.clone(), s));
        }
    };
    match obj {
        Obj::Tensor(t) => tensors.push((name, t.clone())),
        Obj::Dict(items) => {
            if !seen.insert(id) {
                return;
            }
            for &(k, v) in items {
                let key = join(&name, &key_text(tree, k));
                walk(tree, v, key, depth + 1, seen, tensors, metadata);
            }
        }
        Obj::List(items) | Obj::Tuple(items) => {
            if !seen.insert(id) {
                return;
            }
            for (i, &v) in items.iter().enumerate() {
                walk(
                    tree,
                    v,
                    join(&name, &i.to_string()),
                    depth + 1,
                    seen,
                    tensors,
                    metadata,
                );
            }
        }
        Obj::Int(i) => scalar(i.to_string(), metadata),
        Obj::Float(f) => scalar(f.to_string(), metadata),
        Obj::Bool(b) => scalar(b.to_string(), metadata),
        Obj::Str(s) if s.len() <= 200 => scalar(s.clone(), metadata),
        Obj::Global(pickle::Allowed::TorchDtype(d)) => scalar(format!("torch.{d}"), metadata),
        _ => {}
    }
}
